/** `s3://bucket/key` URIs: the one format Dagy stores and passes around for S3 objects. */
import { ValidationError } from "../errors";

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

// S3 general-purpose bucket naming rules: 3-63 chars, lowercase letters, digits, '.', '-',
// beginning and ending with a letter or digit, no '..', not an IP address.
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_PATTERN = /^\d{1,3}(\.\d{1,3}){3}$/;

export function validateBucketName(bucket: string, field = "bucket"): string {
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes("..") || IP_PATTERN.test(bucket)) {
    throw new ValidationError(
      `${field} ${JSON.stringify(bucket)} is not a valid S3 bucket name: use 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit`,
      field,
    );
  }
  return bucket;
}

/** Parses `s3://bucket/key`. `field` names the input in error messages. */
export function parseS3Uri(uri: string, field = "uri"): S3Location {
  if (typeof uri !== "string" || !uri.startsWith("s3://")) {
    throw new ValidationError(
      `${field} ${JSON.stringify(String(uri).slice(0, 200))} is not an S3 URI: expected s3://<bucket>/<key>`,
      field,
    );
  }
  const rest = uri.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  if (bucket.length === 0) {
    throw new ValidationError(
      `${field} ${JSON.stringify(uri)} has no bucket: expected s3://<bucket>/<key>`,
      field,
    );
  }
  validateBucketName(bucket, field);
  const key = slash === -1 ? "" : rest.slice(slash + 1);
  if (key.length === 0) {
    throw new ValidationError(
      `${field} ${JSON.stringify(uri)} has no object key: expected s3://<bucket>/<key>`,
      field,
    );
  }
  if (Buffer.byteLength(key, "utf8") > 1024) {
    throw new ValidationError(`${field} has an object key longer than 1024 bytes`, field);
  }
  return { bucket, key };
}

export function formatS3Uri(bucket: string, key: string): string {
  validateBucketName(bucket);
  if (key.length === 0) throw new ValidationError("key must not be empty", "key");
  return `s3://${bucket}/${key}`;
}
