/**
 * Warm workers end to end (issue #14): real worker processes started ahead of their runs by
 * LocalBackend's pool (or by the test, for duplicate delivery), against local DynamoDB and S3.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { DagLauncher, type ComputeBackend, type WorkerLaunchSpec } from "../../lib/launcher";
import { parseS3Uri } from "../../lib/storage/s3-uri";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { ensureWorkerBundle } from "../../lib/worker/bundle";
import { cachedArtifactPath } from "../../lib/worker/artifact-cache";
import { EXIT_CODES } from "../../lib/worker/run-host";
import { LOCAL_CREDENTIALS } from "../../lib/aws/dynamodb";
import {
  logLines,
  newOrg,
  registerTestFlow,
  startWorkerHarness,
  waitForFile,
  waitForRun,
  type WorkerHarness,
} from "./support";

const MEDIUM = { cpu: "1024", memory: "2048" };

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function idleCount(h: WorkerHarness, n: number): Promise<true> {
  return until(`${n} idle warm workers`, () =>
    h.backend.stats.idle >= n && h.backend.stats.starting === 0 ? true : undefined,
  );
}

describe("the local warm pool", () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await startWorkerHarness({}, { warm: 2, warmSizes: [MEDIUM], artifactCache: true });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it("hands a run to an idle worker, records start_mode warm and who ran it, and refills", async () => {
    await idleCount(h, 2);
    const idleBefore = h.backend.idleWorkerPids();
    const orgId = newOrg();
    const flow = await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const launched = await h.launcher.launch({
        flowName: "hello",
        orgId,
        parameters: { name: `warm-${i}` },
        workloadProfile: "medium",
      });
      expect(launched).toMatchObject({ success: true, taskArn: `local:${launched.runId}` });
      ids.push(launched.runId);
      const run = await waitForRun(h, launched.runId);
      expect(run.status).toBe("SUCCEEDED");
      expect(run.task_arn).toBe(`local:${launched.runId}`);
      expect(run.attempts).toEqual([
        expect.objectContaining({
          attempt: 1,
          task_arn: `local:${launched.runId}`,
          start_mode: "warm",
        }),
      ]);
      expect((await h.exited(launched.runId)).code).toBe(EXIT_CODES.succeeded);
      // The pool is back to full strength after each assignment, with new processes.
      await idleCount(h, 2);
    }
    expect(h.backend.idleWorkerPids().some((pid) => idleBefore.includes(pid))).toBe(false);
    // The run's output reached the run's own log.
    expect(logLines(h.log(ids[2]!)).some((l) => l.message === "Hello, warm-2!")).toBe(true);

    // Artifact cache: the artifact is on disk by its hash; with the S3 object gone, a new run
    // of the same version still succeeds (it was not fetched from S3).
    const cached = cachedArtifactPath(path.join(h.dir, "artifact-cache"), flow.artifact_sha256);
    expect(existsSync(cached)).toBe(true);
    const { bucket, key } = parseS3Uri(flow.artifact_s3_uri);
    await h.env.clients.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    const again = await h.launcher.launch({ flowName: "hello", orgId, parameters: { name: "c" } });
    expect((await waitForRun(h, again.runId)).status).toBe("SUCCEEDED");
  }, 90_000);

  it("starts cold when no idle worker of the run's size is there, and records start_mode cold", async () => {
    await idleCount(h, 2);
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    // The pool keeps medium workers; the first small run finds none of its size.
    const launched = await h.launcher.launch({
      flowName: "hello",
      orgId,
      parameters: { name: "small" },
      workloadProfile: "small",
    });
    const run = await waitForRun(h, launched.runId);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.attempts?.[0]).toMatchObject({ start_mode: "cold", cpu: "256", memory: "512" });
  }, 60_000);

  it("replaces an idle worker that dies", async () => {
    await idleCount(h, 2);
    const [victim] = h.backend.idleWorkerPids();
    process.kill(victim!, "SIGKILL");
    await until("a replacement", () => {
      const pids = h.backend.idleWorkerPids();
      return pids.length >= 2 && !pids.includes(victim!) ? pids : undefined;
    });
  }, 60_000);

  it("reports a warm worker killed during its run exactly as a cold worker's exit", async () => {
    await idleCount(h, 2);
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "long_task");
    const marker = path.join(h.dir, `${orgId}-pid`);
    const launched = await h.launcher.launch({
      flowName: "long_task",
      orgId,
      parameters: { marker },
      workloadProfile: "medium",
    });
    const pid = Number(await waitForFile(marker));
    process.kill(pid, "SIGKILL");
    const exit = await h.exited(launched.runId);
    expect(exit).toMatchObject({ taskArn: `local:${launched.runId}`, signal: "SIGKILL" });
    const run = await h.persistence.runs.get(launched.runId);
    expect(run?.attempts?.[0]).toMatchObject({ start_mode: "warm" });
  }, 60_000);
});

describe("duplicate delivery", () => {
  let h: WorkerHarness;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness();
  }, 60_000);

  afterAll(async () => {
    for (const worker of workers) worker.kill("SIGKILL");
    await h?.close();
  });

  it("runs the run once; the worker that loses the claim keeps waiting, and leaves on SIGTERM", async () => {
    const bundle = await ensureWorkerBundle();
    const spawnWarm = () => {
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
      const state = {
        child,
        messages: [] as string[],
        output: "",
        exit: undefined as number | null | undefined,
      };
      child.on("message", (m: { type: string }) => state.messages.push(m.type));
      child.stdout?.on("data", (c: Buffer) => (state.output += c.toString()));
      child.stderr?.on("data", (c: Buffer) => (state.output += c.toString()));
      child.on("exit", (code) => (state.exit = code));
      workers.push(child);
      return state;
    };
    const a = spawnWarm();
    const b = spawnWarm();
    const ready = (w: typeof a, n: number) =>
      until("ready", () =>
        w.messages.filter((m) => m === "dagy:ready").length >= n ? true : undefined,
      );
    await Promise.all([ready(a, 1), ready(b, 1)]);

    // The launcher writes the QUEUED run; the "backend" keeps the spec instead of starting it.
    let spec: WorkerLaunchSpec | undefined;
    const capture: ComputeBackend = {
      submit: (s) => {
        spec = s;
        return Promise.resolve({ taskArn: `local:${s.runId}`, startMode: "warm" });
      },
      stop: () => Promise.resolve(),
    };
    const launcher = new DagLauncher(
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
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "examples/flows/hello.ts");
    const launched = await launcher.launch({
      flowName: "hello",
      orgId,
      parameters: { name: "once" },
    });
    const message = { type: "dagy:assign", env: spec!.environment };
    // The same assignment, delivered twice (to two workers at once).
    a.child.send(message);
    b.child.send(message);

    const run = await waitForRun(h, launched.runId);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.task_states?.hello).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    const winner = await until("one worker to exit", () =>
      a.exit !== undefined ? a : b.exit !== undefined ? b : undefined,
    );
    const loser = winner === a ? b : a;
    expect(winner.exit).toBe(EXIT_CODES.succeeded);
    // The other acknowledged the duplicate and is waiting again, alive.
    await ready(loser, 2);
    expect(loser.messages).toContain("dagy:ack");
    expect(loser.exit).toBeUndefined();
    const greetings = (a.output + b.output).split("\n").filter((l) => l.includes("Hello, once!"));
    expect(greetings).toHaveLength(1);

    loser.child.kill("SIGTERM");
    await until("the idle worker to exit", () => (loser.exit !== undefined ? true : undefined));
    expect(loser.exit).toBe(0);
    expect(loser.messages).toContain("dagy:leave");
  }, 60_000);
});
