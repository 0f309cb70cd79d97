import {
  CreateBucketCommand,
  HeadBucketCommand,
  type S3Client,
  type S3ServiceException,
} from "@aws-sdk/client-s3";

/** True when the bucket exists (HeadBucket succeeds), false on 404; other errors propagate. */
export async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (error) {
    const status = (error as S3ServiceException).$metadata?.httpStatusCode;
    if (status !== 404) throw error;
    return false;
  }
}

/** Creates the buckets when missing. Idempotent. */
export async function ensureBuckets(s3: S3Client, buckets: readonly string[]): Promise<void> {
  await Promise.all(
    buckets.map(async (bucket) => {
      if (await bucketExists(s3, bucket)) return;
      try {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw error;
      }
    }),
  );
}
