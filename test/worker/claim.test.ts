/**
 * The claim records who ran the run (issue #14): a worker that knows its task writes the run's
 * `task_arn` and its attempt's `task_arn` and `start_mode` in the conditional QUEUED -> RUNNING
 * write — and the launcher recording its attempt late (a warm worker can claim, even finish,
 * first) never clobbers what the worker wrote. Real DynamoDB semantics (dynalite).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { buildFlow } from "../../lib/bundler";
import { attemptRecord } from "../../lib/launcher/attempts";
import type { RunAttempt, RunRecord } from "../../lib/persistence/records";
import { RunRepository } from "../../lib/persistence/runs";
import { ObjectStore, sha256Hex } from "../../lib/storage";
import type { WorkerConfig } from "../../lib/worker/config";
import { EXIT_CODES, WorkerHost } from "../../lib/worker/run-host";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { REPO_ROOT } from "./support";

let env: TestEnv;
let store: ObjectStore;
let runs: RunRepository;
let dir: string;
let hello: { uri: string; sha256: string };

const RESOURCES = { cpu: "1024", memory: "2048", capacityProvider: "FARGATE" as const };
const ECS_ARN = "arn:aws:ecs:us-east-1:123456789012:task/dagy/0123456789abcdef0123456789abcdef";

beforeAll(async () => {
  env = await startTestEnv();
  store = new ObjectStore(env.clients.s3);
  runs = new RunRepository(env.clients.doc, env.tables.runs);
  dir = mkdtempSync(path.join(tmpdir(), "dagy-claim-"));
  const built = await buildFlow({
    entry: path.join(REPO_ROOT, "examples/flows/hello.ts"),
    cwd: REPO_ROOT,
  });
  const uri = `s3://${env.buckets.artifacts}/flows/hello/${built.spec.version}/artifact.zip`;
  await store.put(uri, built.artifact);
  hello = { uri, sha256: sha256Hex(built.artifact) };
}, 60_000);

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function queuedRun(fields: Partial<RunRecord> = {}): Promise<WorkerConfig> {
  const runId = `run-${randomBytes(6).toString("hex")}`;
  const now = new Date().toISOString();
  await runs.create({
    run_id: runId,
    org_id: "acme",
    flow_name: "hello",
    flow_version: "1.0.0",
    status: "QUEUED",
    environment: "test",
    correlation_id: runId,
    trigger_source: "test",
    artifact_s3_uri: hello.uri,
    artifact_sha256: hello.sha256,
    dep_package_uris: [],
    secret_names: [],
    created_at: now,
    updated_at: now,
  });
  if (fields.attempts !== undefined) {
    for (const [i, attempt] of fields.attempts.entries()) {
      await runs.recordAttempt(runId, attempt, i);
    }
  }
  return {
    runId,
    orgId: "acme",
    flowName: "hello",
    flowVersion: "1.0.0",
    artifactUri: hello.uri,
    artifactSha256: hello.sha256,
    environment: "test",
    correlationId: runId,
    parameters: { name: "claim" },
    depPackageUris: [],
    secretNames: [],
    secretValues: [],
    runsTable: env.tables.runs,
    tracesBucket: env.buckets.traces,
    logShipping: false,
    emitTimings: false,
  };
}

function run(config: WorkerConfig, task: { taskArn: string; startMode: "warm" | "cold" }) {
  return new WorkerHost(config, { runs, store, stdout: () => undefined, tempDir: dir, task }).run();
}

describe("the claim records who ran the run", () => {
  it("a warm Fargate worker replaces the launcher's placeholder with its task ARN: reconciliation finds the run by it", async () => {
    const placeholder: RunAttempt = attemptRecord(
      "warm:small:pending",
      1,
      RESOURCES,
      new Date(),
      "warm",
    );
    const config = await queuedRun({ attempts: [placeholder] });

    const outcome = await run(config, { taskArn: ECS_ARN, startMode: "warm" });
    expect(outcome.exitCode).toBe(EXIT_CODES.succeeded);

    const record = await runs.get(config.runId);
    expect(record?.status).toBe("SUCCEEDED");
    expect(record?.task_arn).toBe(ECS_ARN);
    expect(record?.attempts).toEqual([{ ...placeholder, task_arn: ECS_ARN, start_mode: "warm" }]);
    expect((await runs.findByTaskArn(ECS_ARN))?.run_id).toBe(config.runId);
  }, 30_000);

  it("a worker that claims and finishes before the launcher records its attempt: the late record changes no status or task state", async () => {
    const config = await queuedRun();
    const taskArn = `local:${config.runId}`;
    await run(config, { taskArn, startMode: "warm" });
    const finished = await runs.get(config.runId);
    expect(finished?.status).toBe("SUCCEEDED");
    expect(finished?.task_arn).toBe(taskArn);

    // What the launcher's recordTask (lib/launcher/start-run.ts) does once submit() returns.
    await runs.recordAttempt(
      config.runId,
      attemptRecord(taskArn, 1, RESOURCES, new Date(), "warm"),
      0,
      { log_stream: "x.log" },
    );
    const after = await runs.get(config.runId);
    expect(after?.status).toBe("SUCCEEDED");
    expect(after?.completed_at).toBe(finished?.completed_at);
    expect(after?.task_states).toEqual(finished?.task_states);
    expect(after?.task_states?.hello).toMatchObject({ status: "SUCCEEDED" });
    expect(after?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, task_arn: taskArn, start_mode: "warm" }),
    ]);
    // A duplicate record (a retried submit) adds nothing.
    expect(
      await runs.recordAttempt(config.runId, attemptRecord(taskArn, 1, RESOURCES, new Date()), 0),
    ).toBeUndefined();
  }, 30_000);

  it("a warm Fargate worker that claims before the launcher records its placeholder: the attempt is recorded under the worker's ARN, once", async () => {
    const config = await queuedRun();
    await run(config, { taskArn: ECS_ARN, startMode: "warm" });
    const placeholder = attemptRecord(
      `warm:small:${config.runId}`,
      1,
      RESOURCES,
      new Date(),
      "warm",
    );

    // What the launcher's recordTask (lib/launcher/start-run.ts) does for a warm dispatch whose worker was quicker.
    expect(await runs.recordAttempt(config.runId, placeholder, 0)).toBeUndefined();
    const recorded = await runs.recordClaimedFirstAttempt(config.runId, placeholder, ECS_ARN);
    expect(recorded?.status).toBe("SUCCEEDED");
    expect(recorded?.task_arn).toBe(ECS_ARN);
    expect(recorded?.attempts).toEqual([{ ...placeholder, task_arn: ECS_ARN }]);
    // Delivered twice, or for a task that is not the run's: nothing more.
    expect(
      await runs.recordClaimedFirstAttempt(config.runId, placeholder, ECS_ARN),
    ).toBeUndefined();
    expect((await runs.get(config.runId))?.attempts).toHaveLength(1);
    const other = await queuedRun();
    expect(await runs.recordClaimedFirstAttempt(other.runId, placeholder, ECS_ARN)).toBeUndefined();
    expect((await runs.get(other.runId))?.attempts).toBeUndefined();
  }, 30_000);

  it("a relaunched attempt's worker leaves the previous attempt as it was", async () => {
    const first: RunAttempt = {
      ...attemptRecord("local:prev", 1, RESOURCES, new Date(), "cold"),
      reason: "worker process killed by SIGKILL",
      outcome: "relaunched",
    };
    const config = await queuedRun({ attempts: [first] });
    // beginRelaunch removed the current task: the next attempt is not recorded yet.
    await runs.beginRelaunch(config.runId, "local:prev", [first], 1);
    const taskArn = `local:${config.runId}:2`;
    await run(config, { taskArn, startMode: "warm" });
    await runs.recordAttempt(
      config.runId,
      attemptRecord(taskArn, 2, RESOURCES, new Date(), "warm"),
      1,
    );

    const record = await runs.get(config.runId);
    expect(record?.status).toBe("SUCCEEDED");
    expect(record?.task_arn).toBe(taskArn);
    expect(record?.attempts).toEqual([
      first,
      expect.objectContaining({ attempt: 2, task_arn: taskArn, start_mode: "warm" }),
    ]);
  }, 30_000);
});
