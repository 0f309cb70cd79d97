/**
 * Test environment: dynalite + s3rver on free ports, with unique table and bucket names and
 * the tables and buckets created. Use in beforeAll/afterAll:
 *
 *   let env: TestEnv;
 *   beforeAll(async () => { env = await startTestEnv(); });
 *   afterAll(() => env.close());
 */
import { randomBytes } from "node:crypto";
import { createDataClients, destroyDataClients, type DataClients } from "../../lib/aws/clients";
import {
  ensureBuckets,
  ensureTables,
  startLocalServers,
  type LocalServers,
} from "../../lib/local/servers";
import { tableNamesFor, type TableNames } from "../../lib/persistence/schema";

export interface TestEnv {
  readonly clients: DataClients;
  readonly tables: TableNames;
  readonly buckets: { readonly artifacts: string; readonly traces: string };
  readonly endpoints: { readonly dynamodbEndpoint: string; readonly s3Endpoint: string };
  /** The servers themselves (their write tap). */
  readonly servers: LocalServers;
  close(): Promise<void>;
}

export async function startTestEnv(): Promise<TestEnv> {
  const servers = await startLocalServers();
  const suffix = randomBytes(4).toString("hex");
  const tables = tableNamesFor(`dagy-test-${suffix}`);
  const buckets = { artifacts: `dagy-artifacts-${suffix}`, traces: `dagy-traces-${suffix}` };
  const endpoints = { dynamodbEndpoint: servers.dynamodbEndpoint, s3Endpoint: servers.s3Endpoint };
  const clients = createDataClients(endpoints);
  try {
    await ensureTables(clients.dynamodb, tables);
    await ensureBuckets(clients.s3, [buckets.artifacts, buckets.traces]);
  } catch (error) {
    destroyDataClients(clients);
    await servers.close();
    throw error;
  }
  return {
    clients,
    tables,
    buckets,
    endpoints,
    servers,
    async close() {
      destroyDataClients(clients);
      await servers.close();
    },
  };
}
