/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
/**
 * Direct access to a target's DynamoDB tables and S3 buckets, for the commands that write
 * records (register, deps, deployments) — the guide does these with FlowModel(...).save() and
 * `aws s3 cp`, not through the HTTP API.
 *
 * - local, platform running: its dynalite and s3rver endpoints (from `<dataDir>/platform.json`);
 * - local, platform stopped: this process opens `<dataDir>` itself for the command's duration
 *   (the data is there at the next `dagy dev`);
 * - aws: the stack's tables and buckets with the caller's AWS credentials.
 */
import { createDataClients, destroyDataClients, type DataClients } from "../aws/clients";
import { LAUNCHER_ENV, PLATFORM_ENV } from "../config/env";
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

function required(env: Readonly<Record<string, string>>, name: string, source: string): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new ConfigurationError(
      `${name} is not set (from ${source}); it names the stack's resource`,
    );
  }
  return value;
}

export async function openStores(target: Target): Promise<Stores> {
  const { Persistence } =
    require("../persistence/persistence") as typeof import("../persistence/persistence");
  const { ObjectStore } =
    require("../storage/object-store") as typeof import("../storage/object-store");
  if (target.kind === "http") {
    throw new ConfigurationError(
      "this command writes to the platform's tables and buckets directly, which an API URL does " +
        "not reveal: run it against the local platform (default) or a stack (--outputs cdk-outputs.json)",
    );
  }
  if (target.kind === "aws") {
    const env = target.env;
    const tables: TableNames = {
      flows: required(env, PLATFORM_ENV.flowsTable, target.source),
      runs: required(env, PLATFORM_ENV.runsTable, target.source),
      deployments: required(env, PLATFORM_ENV.deploymentsTable, target.source),
      depPackages: required(env, PLATFORM_ENV.depPackagesTable, target.source),
    };
    const region = env[PLATFORM_ENV.region];
    const clients = createDataClients(region !== undefined ? { region } : {});
    return {
      persistence: new Persistence(clients.doc, tables),
      store: new ObjectStore(clients.s3),
      clients,
      tables,
      artifactBucket: required(env, LAUNCHER_ENV.artifactBucket, target.source),
      tracesBucket: required(env, LAUNCHER_ENV.tracesBucket, target.source),
      description: `AWS (${target.source})`,
      close: () => Promise.resolve(destroyDataClients(clients)),
    };
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

  // No platform running: open the data directory ourselves, with the platform's checks (a
  // missing store is refused, not recreated empty) and its manifest kept up to date.
  const {
    startLocalServers,
    ensureBuckets,
    ensureTables,
    checkStoresAgainstManifest,
    recordDataManifest,
  } = require("../local/servers") as typeof import("../local/servers");
  const { checkDataFiles } = require("../local/state") as typeof import("../local/state");
  const manifest = await checkDataFiles(target.dataDir);
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
  const contents = {
    tables: Object.values(tables),
    buckets: [LOCAL_ARTIFACT_BUCKET, LOCAL_TRACES_BUCKET],
    createdAt: manifest?.createdAt ?? new Date().toISOString(),
  };
  try {
    await checkStoresAgainstManifest(target.dataDir, clients, manifest);
    await ensureTables(clients.dynamodb, tables);
    await ensureBuckets(clients.s3, contents.buckets);
    await recordDataManifest(target.dataDir, clients, contents);
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
      await recordDataManifest(target.dataDir, clients, contents).catch(() => undefined);
      destroyDataClients(clients);
      await servers.close();
    },
  };
}
