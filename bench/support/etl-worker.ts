/**
 * What the worker benchmarks share (bench/worker.ts, bench/warm-aws-model.ts): local DynamoDB
 * and S3, the worker bundle, the ETL example registered as an artifact, and a QUEUED run with
 * the exact environment a launcher gives its worker.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createDataClients, destroyDataClients, type DataClients } from "../../lib/aws/clients";
import { buildFlow } from "../../lib/bundler";
import { ensureBuckets, ensureTables, startLocalServers } from "../../lib/local/servers";
import { RunRepository } from "../../lib/persistence/runs";
import { tableNamesFor, type TableNames } from "../../lib/persistence/schema";
import { ObjectStore, sha256Hex } from "../../lib/storage";
import { buildWorkerBundle } from "../../lib/worker/bundle";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface EtlWorkerBench {
  readonly bundle: Awaited<ReturnType<typeof buildWorkerBundle>>;
  readonly servers: Awaited<ReturnType<typeof startLocalServers>>;
  readonly clients: DataClients;
  readonly tables: TableNames;
  readonly buckets: { readonly artifacts: string; readonly traces: string };
  readonly outDir: string;
  readonly runs: RunRepository;
  /** Creates a QUEUED run of the ETL example; returns its worker's environment. */
  queueRun(runId: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** `prefix` names the tables and buckets (`<prefix>-artifacts`, ...). */
export async function setUpEtlWorkerBench(prefix: string): Promise<EtlWorkerBench> {
  const bundle = await buildWorkerBundle();
  const servers = await startLocalServers();
  const clients = createDataClients(servers);
  const tables = tableNamesFor(prefix);
  const buckets = { artifacts: `${prefix}-artifacts`, traces: `${prefix}-traces` };
  const outDir = await mkdtemp(path.join(tmpdir(), `${prefix}-`));
  const close = async (): Promise<void> => {
    destroyDataClients(clients);
    await servers.close();
    await rm(outDir, { recursive: true, force: true });
  };
  try {
    await ensureTables(clients.dynamodb, tables);
    await ensureBuckets(clients.s3, [buckets.artifacts, buckets.traces]);
    const { artifact, metadata } = await buildFlow({
      entry: "examples/flows/etl_pipeline.ts",
      cwd: REPO_ROOT,
    });
    const artifactUri = `s3://${buckets.artifacts}/flows/${metadata.name}/${metadata.version}/artifact.zip`;
    await new ObjectStore(clients.s3).put(artifactUri, artifact);
    const artifactSha256 = sha256Hex(artifact);
    const runs = new RunRepository(clients.doc, tables.runs);
    const queueRun = async (runId: string): Promise<Record<string, string>> => {
      const now = new Date().toISOString();
      await runs.create({
        run_id: runId,
        org_id: "bench",
        flow_name: metadata.name,
        flow_version: metadata.version,
        status: "QUEUED",
        environment: "bench",
        correlation_id: runId,
        trigger_source: "bench",
        artifact_s3_uri: artifactUri,
        artifact_sha256: artifactSha256,
        dep_package_uris: [],
        secret_names: [],
        created_at: now,
        updated_at: now,
      });
      return {
        PATH: process.env.PATH ?? "",
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "local",
        AWS_SECRET_ACCESS_KEY: "local",
        DAGY_RUN_ID: runId,
        DAGY_ORG_ID: "bench",
        DAGY_FLOW_NAME: metadata.name,
        DAGY_FLOW_VERSION: metadata.version,
        DAGY_ARTIFACT_URI: artifactUri,
        DAGY_ARTIFACT_SHA256: artifactSha256,
        DAGY_ENVIRONMENT: "bench",
        DAGY_CORRELATION_ID: runId,
        DAGY_PARAMETERS: JSON.stringify({
          date: "2024-03-14",
          source: path.join(REPO_ROOT, "examples/data/orders.csv"),
          destination: path.join(outDir, `${runId}.json`),
        }),
        DAGY_RUNS_TABLE: tables.runs,
        DAGY_TRACES_BUCKET: buckets.traces,
        DAGY_DYNAMODB_ENDPOINT: servers.dynamodbEndpoint,
        DAGY_S3_ENDPOINT: servers.s3Endpoint,
        DAGY_WORKER_TIMINGS: "1",
      };
    };
    return { bundle, servers, clients, tables, buckets, outDir, runs, queueRun, close };
  } catch (error) {
    await close();
    throw error;
  }
}
