/**
 * The worker host's isolated maps as the stack configures them in AWS, over real local DynamoDB
 * and S3: with DAGY_API_URL and DAGY_API_AUTH=sigv4 the parent's child-run requests are signed
 * with the credentials of the SDK's default chain (here the environment; on Fargate the task
 * role's container credentials) and verified by a server that checks SigV4 as API Gateway does;
 * without a URL (JWT mode) the map runs in the worker and the log says why.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { buildFlow } from "../../lib/bundler";
import { RunRepository } from "../../lib/persistence/runs";
import { ObjectStore, sha256Hex } from "../../lib/storage";
import type { WorkerConfig } from "../../lib/worker/config";
import { EXIT_CODES, WorkerHost } from "../../lib/worker/run-host";
import { startSigningApiServer, type SigningApiServer } from "../support/signing-api-server";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { REPO_ROOT } from "./support";

const REGION = "eu-west-1";
const TASK_ROLE_KEY = {
  accessKeyId: "ASIAWORKERTASKROLE02",
  secretAccessKey: "container/credentials+for=tests",
  sessionToken: "fargate-session-token",
  userArn: "arn:aws:sts::123456789012:assumed-role/dagy-worker/5d1e0c9b7a6f4e3d",
};

let env: TestEnv;
let store: ObjectStore;
let runs: RunRepository;
let dir: string;
let server: SigningApiServer;
const batches: Array<{ authorizer: unknown; body: Record<string, unknown> }> = [];
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  env = await startTestEnv();
  store = new ObjectStore(env.clients.s3);
  runs = new RunRepository(env.clients.doc, env.tables.runs);
  dir = mkdtempSync(path.join(tmpdir(), "dagy-isolated-aws-"));
  // The API refuses every child: the parent's items fail with its reason.
  server = await startSigningApiServer({
    auth: { mode: "iam", region: REGION, keys: [TASK_ROLE_KEY] },
    handler: (event) => {
      const body = JSON.parse(event.body ?? "{}") as { requests?: unknown[] };
      batches.push({ authorizer: event.requestContext.authorizer, body });
      return Promise.resolve({
        statusCode: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          results: (body.requests ?? []).map(() => ({
            success: false,
            run_id: null,
            error: "quota of child runs reached",
          })),
        }),
      });
    },
  });
  // The default credential chain finds these first, as it finds the task role's on Fargate.
  const creds = {
    AWS_ACCESS_KEY_ID: TASK_ROLE_KEY.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TASK_ROLE_KEY.secretAccessKey,
    AWS_SESSION_TOKEN: TASK_ROLE_KEY.sessionToken,
  };
  for (const [name, value] of Object.entries(creds)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
}, 60_000);

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await server?.close();
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function queuedIsolatedRun(extra: Partial<WorkerConfig>): Promise<WorkerConfig> {
  const built = await buildFlow({
    entry: path.join(REPO_ROOT, "examples/flows/fan_out_isolated.ts"),
    cwd: REPO_ROOT,
  });
  const uri = `s3://${env.buckets.artifacts}/flows/fan_out_isolated/1.0.0/artifact.zip`;
  await store.put(uri, built.artifact);
  const runId = `run-${randomBytes(6).toString("hex")}`;
  const now = new Date().toISOString();
  await runs.create({
    run_id: runId,
    org_id: "acme",
    flow_name: "fan_out_isolated",
    flow_version: "1.0.0",
    status: "QUEUED",
    environment: "production",
    correlation_id: runId,
    trigger_source: "test",
    artifact_s3_uri: uri,
    artifact_sha256: sha256Hex(built.artifact),
    dep_package_uris: [],
    secret_names: [],
    created_at: now,
    updated_at: now,
  });
  return {
    runId,
    orgId: "acme",
    flowName: "fan_out_isolated",
    flowVersion: "1.0.0",
    artifactUri: uri,
    artifactSha256: sha256Hex(built.artifact),
    environment: "production",
    correlationId: runId,
    parameters: { n: 100, shard_size: 50 },
    depPackageUris: [],
    secretNames: [],
    secretValues: [],
    runsTable: env.tables.runs,
    tracesBucket: env.buckets.traces,
    logShipping: false,
    emitTimings: false,
    ...extra,
  };
}

function host(config: WorkerConfig) {
  const lines: string[] = [];
  const h = new WorkerHost(config, {
    runs,
    store,
    stdout: (line) => lines.push(line),
    tempDir: dir,
    isolatedMap: { launchIntervalMs: 0, pollMs: 1, maxPollMs: 1 },
  });
  return { h, lines };
}

describe("isolated maps in AWS", () => {
  it("DAGY_API_AUTH=sigv4: the parent's POST /runs/batch is signed as the task role and the API's answer reaches the run", async () => {
    const config = await queuedIsolatedRun({
      apiUrl: server.url,
      apiAuth: "sigv4",
      region: REGION,
    });
    const { h } = host(config);
    const outcome = await h.run();

    expect(outcome.exitCode).toBe(EXIT_CODES.flowFailed);
    // The gateway stand-in verified the signature (else 403, and no call to the handler).
    expect(server.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ["POST", "/runs/batch", 200],
    ]);
    expect(batches[0]?.authorizer).toMatchObject({ iam: { userArn: TASK_ROLE_KEY.userArn } });
    expect(batches[0]?.body).toMatchObject({
      org_id: "acme",
      // Two shards, two per child (the example's itemsPerChild), as `small` tasks.
      requests: [
        {
          flow_name: "fan_out_isolated",
          flow_version: "1.0.0",
          parent_run_id: config.runId,
          map_task: "sum_shard",
          map_items: "0-1",
          workload_profile: "small",
          correlation_id: `${config.runId}:0`,
        },
      ],
    });
    const run = await runs.get(config.runId);
    expect(run?.status).toBe("FAILED");
    expect(run?.error_message).toMatch(/child 0 was not launched: quota of child runs reached/);
  });

  it("no DAGY_API_URL (JWT mode): the map runs in the worker, and the log says so", async () => {
    const config = await queuedIsolatedRun({});
    const { h, lines } = host(config);
    const outcome = await h.run();

    expect(outcome.exitCode).toBe(EXIT_CODES.succeeded);
    const note = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.event_type === "map_isolation_unavailable");
    expect(note).toMatchObject({
      level: "warn",
      map_tasks: ["sum_shard"],
      message: "isolated maps run in this worker: no DAGY_API_URL to launch child runs through",
    });
    expect((await runs.get(config.runId))?.status).toBe("SUCCEEDED");
  });
});
