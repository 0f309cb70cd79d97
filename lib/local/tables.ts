/**
 * The DynamoDB tables of `lib/persistence/schema.ts`, created on the local server (or any
 * endpoint) when missing, and brought up to date when a kept data dir holds older ones.
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  DescribeTimeToLiveCommand,
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
import { TABLES, type KeyDef, type TableDef, type TableNames } from "../persistence/schema";

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
