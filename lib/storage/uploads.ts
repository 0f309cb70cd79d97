/**
 * Direct uploads: the API hands a client a presigned S3 PUT for a staging key, and S3 itself
 * refuses bytes whose SHA-256 is not the one announced (`x-amz-checksum-sha256` is a signed
 * header, so it cannot be dropped or changed). The commit call then reads the staged object,
 * checks it again (size, hash, contents) and records it. Staging keys carry the org, so one
 * org can never commit another's upload; the bucket expires `uploads/` after a day.
 *
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
 * The header must stay a header: hoisted into the query string S3 ignores it
 * (aws-sdk-js-v3 issue 3906), hence `unhoistableHeaders`.
 */
import { randomUUID } from "node:crypto";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { ValidationError } from "../errors";
import { formatS3Uri } from "./s3-uri";

export const UPLOAD_PREFIX = "uploads/";
/** How long a presigned PUT stays valid. */
export const UPLOAD_EXPIRY_SECONDS = 15 * 60;

export interface PresignedUpload {
  readonly uploadId: string;
  readonly url: string;
  /** Send exactly these headers with the PUT. */
  readonly headers: Readonly<Record<string, string>>;
  readonly expiresAt: string;
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `uploads/<org>/<upload_id>`: the org in the key binds the upload to its org. */
export function uploadKey(orgId: string, uploadId: string): string {
  if (!UPLOAD_ID.test(uploadId)) {
    throw new ValidationError("upload_id: must be an id returned by an uploads call", "upload_id");
  }
  return `${UPLOAD_PREFIX}${orgId}/${uploadId}`;
}

export class UploadStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async presignPut(orgId: string, sha256Hex: string, size: number): Promise<PresignedUpload> {
    const uploadId = randomUUID();
    const checksum = Buffer.from(sha256Hex, "hex").toString("base64");
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: uploadKey(orgId, uploadId),
      ChecksumSHA256: checksum,
      ContentLength: size,
    });
    const url = await getSignedUrl(this.s3, command, {
      expiresIn: UPLOAD_EXPIRY_SECONDS,
      unhoistableHeaders: new Set(["x-amz-checksum-sha256"]),
    });
    return {
      uploadId,
      url,
      headers: { "x-amz-checksum-sha256": checksum },
      expiresAt: new Date(this.clock().getTime() + UPLOAD_EXPIRY_SECONDS * 1000).toISOString(),
    };
  }

  uri(orgId: string, uploadId: string): string {
    return formatS3Uri(this.bucket, uploadKey(orgId, uploadId));
  }
}
