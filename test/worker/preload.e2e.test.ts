/**
 * Preloading while idle (issue #14): a warm worker told which artifact its next run most likely
 * needs (`dagy:preload`) fetches, verifies and opens it while it waits. Real worker processes
 * against local DynamoDB and S3; the test plays the pool's part over IPC.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { DagLauncher, type ComputeBackend, type WorkerLaunchSpec } from "../../lib/launcher";
import { LOCAL_CREDENTIALS } from "../../lib/aws/dynamodb";
import { parseS3Uri } from "../../lib/storage/s3-uri";
import { ensureWorkerBundle } from "../../lib/worker/bundle";
import { EXIT_CODES } from "../../lib/worker/run-host";
import {
  logLines,
  newOrg,
  registerTestFlow,
  startWorkerHarness,
  waitForRun,
  type WorkerHarness,
} from "./support";

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Worker {
  readonly child: ChildProcess;
  readonly messages: string[];
  output: string;
  exit: number | null | undefined;
}

let h: WorkerHarness;
let launcher: DagLauncher;
let bundle: string;
const specs = new Map<string, WorkerLaunchSpec>();
const workers: ChildProcess[] = [];

beforeAll(async () => {
  h = await startWorkerHarness();
  bundle = await ensureWorkerBundle();
  // The launcher writes QUEUED runs; the "backend" keeps their specs for the test to assign.
  const capture: ComputeBackend = {
    submit: (s) => {
      specs.set(s.runId, s);
      return Promise.resolve({ taskArn: `local:${s.runId}`, startMode: "warm" });
    },
    stop: () => Promise.resolve(),
  };
  launcher = new DagLauncher(
    {
      artifactBucket: h.env.buckets.artifacts,
      tracesBucket: h.env.buckets.traces,
      tables: h.env.tables,
      computeBackend: "local",
      region: "us-east-1",
    },
    {
      persistence: h.persistence,
      store: h.store,
      backend: capture,
      logger: { info: () => {}, warn: () => {} },
    },
  );
}, 60_000);

afterAll(async () => {
  for (const worker of workers) worker.kill("SIGKILL");
  await h?.close();
});

/** A warm worker as the local pool starts one (no artifact cache: S3 is the only source). */
async function warmWorker(): Promise<Worker> {
  const child = spawn(process.execPath, [bundle], {
    cwd: h.dir,
    env: {
      PATH: process.env.PATH ?? "",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      DAGY_DYNAMODB_ENDPOINT: h.env.endpoints.dynamodbEndpoint,
      DAGY_S3_ENDPOINT: h.env.endpoints.s3Endpoint,
      DAGY_WARM_SOURCE: "ipc",
    },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  workers.push(child);
  const worker: Worker = { child, messages: [], output: "", exit: undefined };
  child.on("message", (m: { type: string }) => worker.messages.push(m.type));
  child.stdout?.on("data", (c: Buffer) => (worker.output += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (worker.output += c.toString()));
  child.on("exit", (code) => (worker.exit = code));
  await until("ready", () => (worker.messages.includes("dagy:ready") ? true : undefined));
  return worker;
}

function preload(worker: Worker, flow: { artifact_s3_uri: string; artifact_sha256: string }) {
  worker.child.send({
    type: "dagy:preload",
    artifactUri: flow.artifact_s3_uri,
    artifactSha256: flow.artifact_sha256,
    runsTable: h.env.tables.runs,
  });
}

/**
 * Waits for the worker's preload to end, and for the worker to tell the pool so
 * (`dagy:preloaded`, which the pool's choice of worker relies on); returns its log line's
 * event type.
 */
async function preloaded(worker: Worker): Promise<string> {
  const event = await until("the preload to end", () =>
    logLines(worker.output)
      .map((l) => l.event_type)
      .find((e) => e === "artifact_preloaded" || e === "artifact_preload_failed"),
  );
  await until("dagy:preloaded", () =>
    worker.messages.includes("dagy:preloaded") ? true : undefined,
  );
  return event;
}

async function launchAndAssign(worker: Worker, flowName: string, orgId: string) {
  const launched = await launcher.launch({ flowName, orgId, parameters: { name: "preload" } });
  expect(launched.success).toBe(true);
  worker.child.send({ type: "dagy:assign", env: specs.get(launched.runId)!.environment });
  const run = await waitForRun(h, launched.runId);
  await until("the worker to exit", () => (worker.exit !== undefined ? true : undefined));
  const started = logLines(worker.output).find((l) => l.event_type === "worker_started");
  return { run, started };
}

describe("a warm worker's preload", () => {
  it("is used by a run of that artifact: the run succeeds with the S3 object already gone", async () => {
    const orgId = newOrg();
    const flow = await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    const worker = await warmWorker();
    preload(worker, flow);
    expect(await preloaded(worker)).toBe("artifact_preloaded");

    // Only the preloaded bytes can serve the run now.
    const { bucket, key } = parseS3Uri(flow.artifact_s3_uri);
    await h.env.clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    const { run, started } = await launchAndAssign(worker, "hello", orgId);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.task_states?.hello).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    expect(started).toMatchObject({ artifact_preloaded: true });
    expect(worker.exit).toBe(EXIT_CODES.succeeded);
    expect(worker.output).toContain("Hello, preload!");
  }, 60_000);

  it("is not used by a run of another artifact, which loads its own as before", async () => {
    const orgId = newOrg();
    const other = await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    await registerTestFlow(h, orgId, "examples/flows/hello.ts"); // the latest version runs
    const worker = await warmWorker();
    preload(worker, other);
    expect(await preloaded(worker)).toBe("artifact_preloaded");

    const { run, started } = await launchAndAssign(worker, "hello", orgId);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.artifact_sha256).not.toBe(other.artifact_sha256);
    expect(started?.artifact_preloaded).not.toBe(true);
    expect(worker.exit).toBe(EXIT_CODES.succeeded);
  }, 60_000);

  it("of bytes whose SHA-256 does not match is refused, and the run fails the checksum as a cold one", async () => {
    const orgId = newOrg();
    const flow = await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    const impostor = await registerTestFlow(h, newOrg(), "long_task");
    // The object at the registered URI is replaced by another artifact.
    const { bucket, key } = parseS3Uri(flow.artifact_s3_uri);
    await h.env.clients.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: impostor.artifact }),
    );
    const worker = await warmWorker();
    preload(worker, flow);
    expect(await preloaded(worker)).toBe("artifact_preload_failed");

    const { run, started } = await launchAndAssign(worker, "hello", orgId);
    expect(run.status).toBe("FAILED");
    expect(run.error_message).toContain("artifact checksum mismatch");
    expect(started?.artifact_preloaded).not.toBe(true);
    expect(worker.exit).toBe(EXIT_CODES.workerError);
    expect(worker.output).not.toContain("Hello, preload!");
  }, 60_000);

  it("is ignored when malformed: the worker waits and runs its assignment as usual", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    const worker = await warmWorker();
    worker.child.send({ type: "dagy:preload", artifactUri: 42, artifactSha256: "not-a-hash" });
    const { run, started } = await launchAndAssign(worker, "hello", orgId);
    expect(run.status).toBe("SUCCEEDED");
    expect(started).not.toHaveProperty("artifact_preloaded");
  }, 60_000);
});
