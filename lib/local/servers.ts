/**
 * Wire-compatible local DynamoDB (dynalite) and S3 (s3rver) servers, started in-process.
 * The embedded default (`npm start`) and the tests talk to them through the very same AWS SDK
 * v3 clients as in the cloud; only the endpoints differ.
 */
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  DescribeTimeToLiveCommand,
  ListTablesCommand,
  ScanCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type AttributeValue,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
} from "@aws-sdk/client-dynamodb";
import {
  CreateBucketCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  type S3Client,
  type S3ServiceException,
} from "@aws-sdk/client-s3";
import { TABLES, type KeyDef, type TableDef, type TableNames } from "../persistence/schema";
import { DamagedDataError, writeDataManifest, type DataManifest } from "./state";

// dynalite and s3rver ship no type declarations; these are the parts we use.
interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;
interface S3rverOptions {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose: boolean;
  /** Path-style only: `http://host:port/<bucket>/<key>`, as our S3 client uses. */
  vhostBuckets: boolean;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require("dynalite") as DynaliteFactory;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as S3rverConstructor;

export interface LocalServers {
  /** e.g. `http://127.0.0.1:4567`. */
  readonly dynamodbEndpoint: string;
  /** e.g. `http://127.0.0.1:4568` (path-style addressing). */
  readonly s3Endpoint: string;
  /** Stops both servers; dynalite flushes its store to disk when persistent. */
  close(): Promise<void>;
}

export interface LocalServerOptions {
  /**
   * Persist state under this directory (`<dataDir>/dynamodb`, `<dataDir>/s3`).
   * Default: in-memory DynamoDB and a temporary S3 directory removed on close.
   */
  readonly dataDir?: string;
  /** 0 (default) picks a free port. */
  readonly dynamodbPort?: number;
  /** 0 (default) picks a free port. */
  readonly s3Port?: number;
  /** Default `127.0.0.1`: never listen beyond the machine by accident. */
  readonly host?: string;
}

export async function startLocalServers(opts: LocalServerOptions = {}): Promise<LocalServers> {
  const host = opts.host ?? "127.0.0.1";
  let dynamoPath: string | undefined;
  let s3Dir: string;
  let tempDir: string | undefined;
  if (opts.dataDir !== undefined) {
    dynamoPath = join(opts.dataDir, "dynamodb");
    s3Dir = join(opts.dataDir, "s3");
    // Run data is private (the stores hold parameters, outputs and logs).
    await mkdir(dynamoPath, { recursive: true, mode: 0o700 });
    await mkdir(s3Dir, { recursive: true, mode: 0o700 });
  } else {
    tempDir = await mkdtemp(join(tmpdir(), "dagy-s3-"));
    s3Dir = tempDir;
  }

  // Tables are ACTIVE at once: nothing here should wait for simulated provisioning.
  const dynamo = dynalite({
    ...(dynamoPath !== undefined ? { path: dynamoPath } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    dynamo.once("error", reject);
    dynamo.listen(opts.dynamodbPort ?? 0, host, () => {
      dynamo.off("error", reject);
      resolve();
    });
  });
  const dynamoPort = (dynamo.address() as AddressInfo).port;

  const s3 = new S3rver({
    address: host,
    port: opts.s3Port ?? 0,
    silent: true,
    directory: s3Dir,
    resetOnClose: false,
    vhostBuckets: false,
  });
  let s3Address: AddressInfo;
  try {
    s3Address = await s3.run();
  } catch (error) {
    await closeHttpServer(dynamo);
    throw error;
  }

  let closed = false;
  return {
    dynamodbEndpoint: `http://${urlHost(host)}:${dynamoPort}`,
    s3Endpoint: `http://${urlHost(host)}:${s3Address.port}`,
    async close() {
      if (closed) return;
      closed = true;
      const results = await Promise.allSettled([
        closeHttpServer(dynamo),
        s3.httpServer ? closeHttpServer(s3.httpServer) : Promise.resolve(),
      ]);
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
      const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failure) throw failure.reason;
    },
  };
}

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Closes a server without waiting for clients' idle keep-alive sockets to time out. */
function closeHttpServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

function attributeDefinitions(def: TableDef): AttributeDefinition[] {
  const keys: KeyDef[] = [def.partitionKey];
  if (def.sortKey) keys.push(def.sortKey);
  for (const index of def.indexes) {
    keys.push(index.partitionKey);
    if (index.sortKey) keys.push(index.sortKey);
  }
  const byName = new Map<string, KeyDef>();
  for (const key of keys) byName.set(key.name, key);
  return [...byName.values()].map((k) => ({ AttributeName: k.name, AttributeType: k.type }));
}

function keySchema(partitionKey: KeyDef, sortKey?: KeyDef): KeySchemaElement[] {
  return [
    { AttributeName: partitionKey.name, KeyType: "HASH" },
    ...(sortKey ? [{ AttributeName: sortKey.name, KeyType: "RANGE" as const }] : []),
  ];
}

async function waitUntilActive(dynamodb: DynamoDBClient, tableName: string): Promise<void> {
  // dynalite (createTableMs: 0) is ACTIVE at once; a real endpoint takes seconds.
  for (let attempt = 0; attempt < 300; attempt++) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every(
      (i) => i.IndexStatus === "ACTIVE",
    );
    if (Table?.TableStatus === "ACTIVE" && indexesActive) return;
    await new Promise((resolve) => setTimeout(resolve, attempt < 10 ? 50 : 1000));
  }
  throw new Error(`Table ${tableName} did not become ACTIVE`);
}

async function tableExists(dynamodb: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    return true;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return false;
    throw error;
  }
}

/**
 * Enables TTL when the endpoint supports it. dynalite does not implement UpdateTimeToLive;
 * there, expired items simply stay, and readers (the idempotency check) compare
 * `expires_at` themselves, which they do in AWS too because TTL deletion lags by hours.
 */
async function ensureTtl(dynamodb: DynamoDBClient, tableName: string, attr: string) {
  try {
    const { TimeToLiveDescription } = await dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );
    const status = TimeToLiveDescription?.TimeToLiveStatus;
    if (status === "ENABLED" || status === "ENABLING") return;
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: attr, Enabled: true },
      }),
    );
  } catch (error) {
    if (isUnsupportedOperation(error)) return;
    throw error;
  }
}

function isUnsupportedOperation(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name ?? "";
  return name === "UnknownOperationException" || name === "UnknownOperation";
}

/** Adds indexes a newer schema defines to a table an older version created (a data dir kept). */
async function ensureIndexes(
  dynamodb: DynamoDBClient,
  tableName: string,
  def: TableDef,
): Promise<void> {
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  const existing = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  for (const index of def.indexes) {
    if (existing.has(index.indexName)) continue;
    await dynamodb.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: attributeDefinitions(def),
        GlobalSecondaryIndexUpdates: [
          {
            Create: {
              IndexName: index.indexName,
              KeySchema: keySchema(index.partitionKey, index.sortKey),
              Projection: { ProjectionType: "ALL" },
            },
          },
        ],
      }),
    );
    await waitUntilActive(dynamodb, tableName);
  }
}

/**
 * Creates the four tables of `schema.ts` when missing (on-demand billing, every GSI projecting
 * ALL) and waits until they are ACTIVE. Idempotent. Used by the embedded default and tests;
 * in AWS the CDK stack owns the tables.
 */
export async function ensureTables(dynamodb: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all(
    TABLES.map(async (def) => {
      const tableName = names[def.logicalName];
      const kept = await itemsOfOutdatedTable(dynamodb, tableName, def);
      if (!(await tableExists(dynamodb, tableName))) {
        const indexes: GlobalSecondaryIndex[] = def.indexes.map((index) => ({
          IndexName: index.indexName,
          KeySchema: keySchema(index.partitionKey, index.sortKey),
          Projection: { ProjectionType: "ALL" },
        }));
        try {
          await dynamodb.send(
            new CreateTableCommand({
              TableName: tableName,
              BillingMode: "PAY_PER_REQUEST",
              AttributeDefinitions: attributeDefinitions(def),
              KeySchema: keySchema(def.partitionKey, def.sortKey),
              ...(indexes.length > 0 ? { GlobalSecondaryIndexes: indexes } : {}),
            }),
          );
        } catch (error) {
          // Another process created it between our check and our create: fine.
          if (!(error instanceof ResourceInUseException)) throw error;
        }
      }
      await waitUntilActive(dynamodb, tableName);
      // One at a time: the embedded default's tables are small, and order does not matter.
      for (const item of kept) {
        await dynamodb.send(new PutItemCommand({ TableName: tableName, Item: item }));
      }
      await ensureIndexes(dynamodb, tableName, def);
      if (def.ttlAttribute !== undefined) await ensureTtl(dynamodb, tableName, def.ttlAttribute);
    }),
  );
}

/**
 * A table written by an older Dagy lacks an index the schema now has (e.g. `by_parent`), and
 * dynalite cannot add a GSI to an existing table (UpdateTable ignores `Create`). So: read its
 * items, drop it, and let `ensureTables` recreate it and write them back. Local data only; in
 * AWS the stack adds the index. Returns the items to restore (none for an up-to-date table).
 */
async function itemsOfOutdatedTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  def: TableDef,
): Promise<Array<Record<string, AttributeValue>>> {
  let present: string[];
  try {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    present = (Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName ?? "");
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return [];
    throw error;
  }
  if (def.indexes.every((index) => present.includes(index.indexName))) return [];
  const items: Array<Record<string, AttributeValue>> = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(
      new ScanCommand({ TableName: tableName, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  await dynamodb.send(new DeleteTableCommand({ TableName: tableName }));
  for (let attempt = 0; attempt < 300 && (await tableExists(dynamodb, tableName)); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return items;
}

/** Creates the buckets when missing. Idempotent. */
export async function ensureBuckets(s3: S3Client, buckets: readonly string[]): Promise<void> {
  await Promise.all(
    buckets.map(async (bucket) => {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }));
        return;
      } catch (error) {
        const status = (error as S3ServiceException).$metadata?.httpStatusCode;
        if (status !== 404) throw error;
      }
      try {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw error;
      }
    }),
  );
}

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
    try {
      await s3.send(new HeadBucketCommand({ Bucket: bucket }));
      presentBuckets.push(bucket);
    } catch (error) {
      const status = (error as S3ServiceException).$metadata?.httpStatusCode;
      if (status !== 404) throw error;
      missing.push(`bucket ${bucket}`);
    }
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
