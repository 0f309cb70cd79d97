/** S3 objects addressed by `s3://` URIs. The same code talks to AWS S3 and to s3rver. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { ConflictError, NotFoundError } from "../errors";
import { parseS3Uri } from "./s3-uri";

export interface PutOptions {
  readonly contentType?: string;
  /**
   * Refuse to overwrite an existing object (ConflictError). Sent to S3 as `If-None-Match: *`,
   * which AWS enforces atomically; s3rver ignores it, so a HEAD check runs first as well.
   */
  readonly ifNoneMatch?: boolean;
  /** User metadata (`x-amz-meta-*`), e.g. the owner and sha256 of an artifact. */
  readonly metadata?: Record<string, string>;
}

export interface ObjectHead {
  readonly size: number;
  readonly metadata: Record<string, string>;
}

function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? "";
}
function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}

export class ObjectStore {
  constructor(readonly s3: S3Client) {}

  async put(uri: string, body: Buffer | string, opts: PutOptions = {}): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    if (opts.ifNoneMatch && (await this.exists(uri))) {
      throw new ConflictError(`object already exists: ${uri}`);
    }
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}),
          ...(opts.ifNoneMatch ? { IfNoneMatch: "*" } : {}),
          ...(opts.metadata !== undefined ? { Metadata: opts.metadata } : {}),
        }),
      );
    } catch (error) {
      if (httpStatus(error) === 412 || errorName(error) === "PreconditionFailed") {
        throw new ConflictError(`object already exists: ${uri}`, { cause: error });
      }
      if (errorName(error) === "NoSuchBucket") {
        throw new NotFoundError(`bucket not found: ${bucket} (writing ${uri})`, { cause: error });
      }
      throw error;
    }
  }

  /** Reads the whole object. A missing object or bucket is a NotFoundError naming the URI. */
  async get(uri: string): Promise<Buffer> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (error) {
      const name = errorName(error);
      if (name === "NoSuchKey" || name === "NotFound") {
        throw new NotFoundError(`object not found: ${uri}`, { cause: error });
      }
      if (name === "NoSuchBucket") {
        throw new NotFoundError(`bucket not found: ${bucket} (reading ${uri})`, { cause: error });
      }
      throw error;
    }
  }

  async exists(uri: string): Promise<boolean> {
    return (await this.head(uri)) !== undefined;
  }

  /** Size and user metadata, or undefined when the object does not exist. */
  async head(uri: string): Promise<ObjectHead | undefined> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { size: out.ContentLength ?? 0, metadata: out.Metadata ?? {} };
    } catch (error) {
      // HEAD responses have no body, so a missing key and a missing bucket are both a bare 404.
      if (httpStatus(error) === 404 || errorName(error) === "NotFound") return undefined;
      throw error;
    }
  }

  /** Deletes the object; deleting a missing object is not an error (S3 semantics). */
  async delete(uri: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await this.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}
