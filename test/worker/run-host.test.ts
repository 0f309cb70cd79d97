/**
 * The run host in-process, against real local DynamoDB and S3: batching of task states,
 * stop/cancel/crash handling, runs that must not run, spilled parameters, log shipping.
 */
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { buildFlow } from "../../lib/bundler";
import { RunRepository } from "../../lib/persistence/runs";
import type { RunRecord } from "../../lib/persistence/records";
import { ObjectStore, sha256Hex } from "../../lib/storage";
import type { WorkerConfig } from "../../lib/worker/config";
import { EXIT_CODES, WorkerHost, recordStartFailure } from "../../lib/worker/run-host";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { FIXTURES, REPO_ROOT, waitForFile } from "./support";

let env: TestEnv;
let store: ObjectStore;
let runs: RunRepository;
let dir: string;
const artifacts = new Map<string, { uri: string; sha256: string }>();

beforeAll(async () => {
  env = await startTestEnv();
  store = new ObjectStore(env.clients.s3);
  runs = new RunRepository(env.clients.doc, env.tables.runs);
  dir = mkdtempSync(path.join(tmpdir(), "dagy-run-host-"));
}, 60_000);

afterAll(async () => {
  await env?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function artifact(entry: string): Promise<{ uri: string; sha256: string }> {
  const known = artifacts.get(entry);
  if (known) return known;
  const file = entry.includes("/")
    ? path.join(REPO_ROOT, entry)
    : path.join(FIXTURES, `${entry}.ts`);
  const built = await buildFlow({ entry: file, cwd: REPO_ROOT });
  const uri = `s3://${env.buckets.artifacts}/flows/${built.spec.name}/${built.spec.version}/artifact.zip`;
  await store.put(uri, built.artifact);
  const result = { uri, sha256: sha256Hex(built.artifact) };
  artifacts.set(entry, result);
  return result;
}

async function queuedRun(
  entry: string,
  fields: Partial<RunRecord> = {},
): Promise<{ config: WorkerConfig; runId: string }> {
  const { uri, sha256 } = await artifact(entry);
  const runId = `run-${randomBytes(6).toString("hex")}`;
  const now = new Date().toISOString();
  await runs.create({
    run_id: runId,
    org_id: "acme",
    flow_name: "f",
    flow_version: "1.0.0",
    status: "QUEUED",
    environment: "test",
    correlation_id: runId,
    trigger_source: "test",
    artifact_s3_uri: uri,
    artifact_sha256: sha256,
    dep_package_uris: [],
    secret_names: [],
    created_at: now,
    updated_at: now,
    ...fields,
  });
  const config: WorkerConfig = {
    runId,
    orgId: "acme",
    flowName: "f",
    flowVersion: "1.0.0",
    artifactUri: uri,
    artifactSha256: sha256,
    environment: "test",
    correlationId: runId,
    parameters: {},
    depPackageUris: [],
    secretNames: [],
    secretValues: [],
    runsTable: env.tables.runs,
    tracesBucket: env.buckets.traces,
    logShipping: false,
    emitTimings: false,
  };
  return { config, runId };
}

function host(
  config: WorkerConfig,
  extra: Partial<ConstructorParameters<typeof WorkerHost>[1]> = {},
) {
  const lines: string[] = [];
  const h = new WorkerHost(config, {
    runs,
    store,
    stdout: (line) => lines.push(line),
    tempDir: dir,
    ...extra,
  });
  return { h, lines };
}

describe("WorkerHost", () => {
  it("records 2,000 tasks' states with far fewer UpdateItem calls than state changes", async () => {
    const { config, runId } = await queuedRun("many_tasks");
    // A client of its own whose wire requests are counted.
    const dynamodb = new DynamoDBClient({
      region: "us-east-1",
      endpoint: env.endpoints.dynamodbEndpoint,
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    const targets: string[] = [];
    dynamodb.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        targets.push(headers["x-amz-target"] ?? "");
        return next(args);
      },
      { step: "finalizeRequest", name: "countRequests" },
    );
    const counted = new RunRepository(
      DynamoDBDocumentClient.from(dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
      env.tables.runs,
    );
    try {
      const { h } = host(config, { runs: counted });
      const outcome = await h.run();
      expect(outcome).toEqual({ exitCode: EXIT_CODES.succeeded, status: "SUCCEEDED" });
    } finally {
      dynamodb.destroy();
    }

    const record = await runs.get(runId);
    const states = Object.values(record?.task_states ?? {});
    expect(states).toHaveLength(2000);
    expect(states.every((s) => s.status === "SUCCEEDED" && s.attempts === 1)).toBe(true);
    const updates = targets.filter((t) => t.endsWith(".UpdateItem")).length;
    // 4,000 state changes (start + finish per task); one write each would be 4,000 UpdateItems.
    expect(updates).toBeGreaterThan(0);
    expect(updates).toBeLessThan(100);
  });

  it("task states reach the run record while the run is still going", async () => {
    const marker = path.join(dir, `${randomBytes(4).toString("hex")}.pid`);
    const { config, runId } = await queuedRun("long_task");
    const { h } = host({ ...config, parameters: { marker } }, { flushIntervalMs: 50 });
    const done = h.run();
    await waitForFile(marker);
    let state: string | undefined;
    for (let i = 0; i < 200 && state !== "RUNNING"; i++) {
      state = (await runs.get(runId))?.task_states?.wait_for_stop?.status;
      if (state !== "RUNNING") await new Promise((r) => setTimeout(r, 25));
    }
    expect(state).toBe("RUNNING");
    expect((await runs.get(runId))?.status).toBe("RUNNING");

    await runs.requestCancel(runId);
    h.stop();
    expect(await done).toEqual({
      exitCode: EXIT_CODES.cancelled,
      status: "CANCELLED",
      errorMessage: "Run cancelled",
    });
    const record = await runs.get(runId);
    expect(record?.status).toBe("CANCELLED");
    expect(record?.task_states?.wait_for_stop?.status).toBe("CANCELLED");
  });

  it("an uncaught error in the process ends the run FAILED with it (never left RUNNING)", async () => {
    const marker = path.join(dir, `${randomBytes(4).toString("hex")}.pid`);
    const { config, runId } = await queuedRun("long_task");
    const { h } = host({ ...config, parameters: { marker } });
    const done = h.run();
    await waitForFile(marker);
    h.crash(new TypeError("Cannot read properties of undefined (reading 'rows')"));
    const outcome = await done;
    expect(outcome.exitCode).toBe(EXIT_CODES.workerError);
    const record = await runs.get(runId);
    expect(record?.status).toBe("FAILED");
    expect(record?.error_message).toBe(
      "Worker crashed: Cannot read properties of undefined (reading 'rows')",
    );
    const trace = await store.get(record!.traceback_uri!);
    expect(trace.toString()).toContain("TypeError: Cannot read properties of undefined");
  });

  it("does not run a run that is already terminal", async () => {
    const { config, runId } = await queuedRun("retry_fail");
    await runs.transition(runId, "QUEUED", "FAILED", { error_message: "launch failed" });
    const { h, lines } = host(config);
    expect(await h.run()).toEqual({ exitCode: EXIT_CODES.notRun, status: "FAILED" });
    const record = await runs.get(runId);
    expect(record?.error_message).toBe("launch failed");
    expect(record?.task_states).toEqual({});
    expect(lines.some((l) => l.includes('"event_type":"task_started"'))).toBe(false);
  });

  it("closes a QUEUED run whose cancel was requested without running it", async () => {
    const { config, runId } = await queuedRun("retry_fail", { cancel_requested: true });
    const { h, lines } = host(config);
    expect(await h.run()).toEqual({ exitCode: EXIT_CODES.cancelled, status: "CANCELLED" });
    expect((await runs.get(runId))?.status).toBe("CANCELLED");
    expect(lines.some((l) => l.includes('"event_type":"task_started"'))).toBe(false);
  });

  it("reads parameters that were spilled to S3", async () => {
    const { config, runId } = await queuedRun("examples/flows/hello.ts");
    const parametersUri = `s3://${env.buckets.artifacts}/run-inputs/acme/${runId}/parameters.json`;
    const name = `Dagy ${"x".repeat(10_000)}`;
    await store.put(parametersUri, JSON.stringify({ name }));
    const { parameters: _inline, ...rest } = config;
    const { h, lines } = host({ ...rest, parametersUri });
    expect((await h.run()).exitCode).toBe(EXIT_CODES.succeeded);
    expect(lines.some((l) => l.includes(`Hello, ${name}!`))).toBe(true);
  });

  it("takes parameters kept in the run record from the record it claims", async () => {
    const name = `Dagy ${"y".repeat(10_000)}`;
    const { config } = await queuedRun("examples/flows/hello.ts", { parameters: { name } });
    const { parameters: _inline, ...rest } = config;
    const { h, lines } = host({ ...rest, parametersInRun: true });
    expect((await h.run()).exitCode).toBe(EXIT_CODES.succeeded);
    expect(lines.some((l) => l.includes(`Hello, ${name}!`))).toBe(true);
  });

  it("fails the run with a clear message when the run record holds no parameters", async () => {
    const { config, runId } = await queuedRun("examples/flows/hello.ts");
    const { parameters: _inline, ...rest } = config;
    const { h } = host({ ...rest, parametersInRun: true });
    expect((await h.run()).exitCode).toBe(EXIT_CODES.workerError);
    const record = await runs.get(runId);
    expect(record?.status).toBe("FAILED");
    expect(record?.error_message).toBe(
      `run ${runId} was launched with its parameters in the run record (DAGY_PARAMETERS_IN_RUN=1), but the record has no parameters`,
    );
  });

  it("fails the run with a clear message when the spilled parameters are missing", async () => {
    const { config, runId } = await queuedRun("examples/flows/hello.ts");
    const parametersUri = `s3://${env.buckets.artifacts}/run-inputs/acme/${runId}/parameters.json`;
    const { parameters: _inline, ...rest } = config;
    const { h } = host({ ...rest, parametersUri });
    expect((await h.run()).exitCode).toBe(EXIT_CODES.workerError);
    const record = await runs.get(runId);
    expect(record?.status).toBe("FAILED");
    expect(record?.error_message).toBe(`object not found: ${parametersUri}`);
  });

  it("ships the same JSON lines to the run's CloudWatch Logs stream", async () => {
    const cwl = mockClient(CloudWatchLogsClient);
    cwl.on(CreateLogStreamCommand).resolves({});
    cwl.on(PutLogEventsCommand).resolves({});
    const { config, runId } = await queuedRun("examples/flows/hello.ts");
    const { h, lines } = host(
      { ...config, logShipping: true, logGroup: "/ecs/dagy-worker" },
      { logs: new CloudWatchLogsClient({ region: "us-east-1" }) },
    );
    expect((await h.run()).exitCode).toBe(EXIT_CODES.succeeded);

    expect(cwl.commandCalls(CreateLogStreamCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: "/ecs/dagy-worker", logStreamName: runId },
    ]);
    const puts = cwl.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input);
    expect(
      puts.every((p) => p.logGroupName === "/ecs/dagy-worker" && p.logStreamName === runId),
    ).toBe(true);
    const shipped = puts.flatMap((p) => p.logEvents ?? []);
    expect(shipped.map((e) => e.message)).toEqual(lines);
    const timestamps = shipped.map((e) => e.timestamp!);
    expect([...timestamps].sort((a, b) => a - b)).toEqual(timestamps);
    const types = lines.map((l) => (JSON.parse(l) as { event_type?: string }).event_type);
    expect(types).toEqual(
      expect.arrayContaining(["run_started", "task_started", "task_succeeded", "run_succeeded"]),
    );
    cwl.restore();
  });

  it("recordStartFailure closes a QUEUED run the worker could not even configure", async () => {
    const { runId } = await queuedRun("retry_fail");
    expect(await recordStartFailure(runs, runId, "Worker configuration is invalid: X")).toBe(true);
    const record = await runs.get(runId);
    expect(record).toMatchObject({
      status: "FAILED",
      error_message: "Worker configuration is invalid: X",
      exit_code: EXIT_CODES.workerError,
    });
    expect(await recordStartFailure(runs, runId, "again")).toBe(false);
  });

  it("removes its work directory when done", async () => {
    const { config, runId } = await queuedRun("examples/flows/hello.ts");
    const { h } = host(config);
    await h.run();
    expect(existsSync(path.join(dir, `dagy-run-${runId}`))).toBe(false);
  });
});
