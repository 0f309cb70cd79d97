/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
/**
 * Direct access to the local platform's DynamoDB tables and S3 buckets, for the commands that
 * write records (register, deps, deployments) until they move onto the API's routes:
 * - platform running: its dynalite and s3rver endpoints (from `<dataDir>/platform.json`);
 * - platform stopped: this process opens `<dataDir>` itself for the command's duration.
 */
import { createDataClients, destroyDataClients, type DataClients } from "../aws/clients";
import { ConfigurationError } from "../errors";
import {
  LOCAL_ARTIFACT_BUCKET,
  LOCAL_REGION,
  LOCAL_TABLE_PREFIX,
  LOCAL_TRACES_BUCKET,
} from "../local/state";
import type { Persistence } from "../persistence/persistence";
import { tableNamesFor, type TableNames } from "../persistence/schema";
import type { ObjectStore } from "../storage/object-store";
import type { Target } from "./target";

export interface Stores {
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly clients: DataClients;
  readonly tables: TableNames;
  readonly artifactBucket: string;
  readonly tracesBucket: string;
  /** Where the records go, for messages. */
  readonly description: string;
  close(): Promise<void>;
}

export async function openStores(target: Target): Promise<Stores> {
  const { Persistence } =
    require("../persistence/persistence") as typeof import("../persistence/persistence");
  const { ObjectStore } =
    require("../storage/object-store") as typeof import("../storage/object-store");
  if (target.kind === "remote") {
    throw new ConfigurationError(
      "this command writes to the local platform's tables and buckets; against a remote API it " +
        "needs the API's upload routes, which this version of the CLI does not use yet",
    );
  }

  const state = target.state;
  if (state !== undefined) {
    const clients = createDataClients({
      region: state.region,
      dynamodbEndpoint: state.dynamodbEndpoint,
      s3Endpoint: state.s3Endpoint,
    });
    const tables = tableNamesFor(state.tablePrefix);
    return {
      persistence: new Persistence(clients.doc, tables),
      store: new ObjectStore(clients.s3),
      clients,
      tables,
      artifactBucket: state.artifactBucket,
      tracesBucket: state.tracesBucket,
      description: `the local platform (pid ${state.pid}, ${target.dataDir})`,
      close: () => Promise.resolve(destroyDataClients(clients)),
    };
  }

  // No platform running: open the data directory ourselves.
  const { startLocalServers, ensureBuckets, ensureTables } =
    require("../local/servers") as typeof import("../local/servers");
  let servers;
  try {
    servers = await startLocalServers({ dataDir: target.dataDir });
  } catch (error) {
    throw new ConfigurationError(
      `cannot open the local data in ${target.dataDir} (${(error as Error).message}); ` +
        "is a `dagy dev` that did not record itself still running?",
      { cause: error },
    );
  }
  const clients = createDataClients({
    region: LOCAL_REGION,
    dynamodbEndpoint: servers.dynamodbEndpoint,
    s3Endpoint: servers.s3Endpoint,
  });
  const tables = tableNamesFor(LOCAL_TABLE_PREFIX);
  try {
    await ensureTables(clients.dynamodb, tables);
    await ensureBuckets(clients.s3, [LOCAL_ARTIFACT_BUCKET, LOCAL_TRACES_BUCKET]);
  } catch (error) {
    destroyDataClients(clients);
    await servers.close();
    throw error;
  }
  return {
    persistence: new Persistence(clients.doc, tables),
    store: new ObjectStore(clients.s3),
    clients,
    tables,
    artifactBucket: LOCAL_ARTIFACT_BUCKET,
    tracesBucket: LOCAL_TRACES_BUCKET,
    description: `the local data in ${target.dataDir} (platform not running)`,
    async close() {
      destroyDataClients(clients);
      await servers.close();
    },
  };
}
