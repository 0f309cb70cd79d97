/**
 * The data manifest against the running stores: counting what the tables and buckets hold,
 * finding what a kept data dir lost, and recording the counts. The manifest file itself is read
 * and written in state.ts.
 */
import {
  ListTablesCommand,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { bucketExists } from "./buckets";
import { DamagedDataError, writeDataManifest, type DataManifest } from "./state";

/** Items per table and objects per bucket: what a data manifest records. */
export async function countStoreContents(
  dynamodb: DynamoDBClient,
  s3: S3Client,
  tables: readonly string[],
  buckets: readonly string[],
): Promise<{ tables: Record<string, number>; buckets: Record<string, number> }> {
  const tableCounts: Record<string, number> = {};
  for (const table of tables) {
    let count = 0;
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await dynamodb.send(
        new ScanCommand({ TableName: table, Select: "COUNT", ExclusiveStartKey: start }),
      );
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    tableCounts[table] = count;
  }
  const bucketCounts: Record<string, number> = {};
  for (const bucket of buckets) {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
      );
      count += page.KeyCount ?? 0;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    bucketCounts[bucket] = count;
  }
  return { tables: tableCounts, buckets: bucketCounts };
}

/**
 * What the running stores lack of what a manifest recorded: tables or buckets that are gone,
 * and ones that held data and are now empty (their files deleted). Run before ensureTables and
 * ensureBuckets, which would recreate them empty.
 */
export async function missingFromStores(
  dynamodb: DynamoDBClient,
  s3: S3Client,
  recorded: { tables: Readonly<Record<string, number>>; buckets: Readonly<Record<string, number>> },
): Promise<string[]> {
  const missing: string[] = [];
  const existing = new Set<string>();
  let start: string | undefined;
  do {
    const page = await dynamodb.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
    for (const name of page.TableNames ?? []) existing.add(name);
    start = page.LastEvaluatedTableName;
  } while (start !== undefined);
  const presentTables = Object.keys(recorded.tables).filter((t) => existing.has(t));
  for (const table of Object.keys(recorded.tables)) {
    if (!existing.has(table)) missing.push(`table ${table}`);
  }
  const presentBuckets: string[] = [];
  for (const bucket of Object.keys(recorded.buckets)) {
    if (await bucketExists(s3, bucket)) presentBuckets.push(bucket);
    else missing.push(`bucket ${bucket}`);
  }
  const now = await countStoreContents(dynamodb, s3, presentTables, presentBuckets);
  for (const [table, count] of Object.entries(now.tables)) {
    const before = recorded.tables[table] ?? 0;
    if (before > 0 && count === 0) missing.push(`the ${before} items of table ${table}`);
  }
  for (const [bucket, count] of Object.entries(now.buckets)) {
    const before = recorded.buckets[bucket] ?? 0;
    if (before > 0 && count === 0) missing.push(`the ${before} objects of bucket ${bucket}`);
  }
  return missing;
}

/**
 * Once the servers run, before ensureTables/ensureBuckets (which would recreate what is gone):
 * throws DamagedDataError when the stores lack what the manifest recorded.
 */
export async function checkStoresAgainstManifest(
  dataDir: string,
  clients: { dynamodb: DynamoDBClient; s3: S3Client },
  manifest: DataManifest | undefined,
): Promise<void> {
  if (manifest === undefined) return;
  const missing = await missingFromStores(clients.dynamodb, clients.s3, manifest);
  if (missing.length > 0) throw new DamagedDataError(dataDir, missing);
}

/** Counts what the stores hold and writes the data manifest (at start and when closing). */
export async function recordDataManifest(
  dataDir: string,
  clients: { dynamodb: DynamoDBClient; s3: S3Client },
  stores: { tables: readonly string[]; buckets: readonly string[]; createdAt?: string },
): Promise<void> {
  const counts = await countStoreContents(
    clients.dynamodb,
    clients.s3,
    stores.tables,
    stores.buckets,
  );
  const now = new Date().toISOString();
  await writeDataManifest(dataDir, {
    format: 1,
    createdAt: stores.createdAt ?? now,
    updatedAt: now,
    ...counts,
  });
}
