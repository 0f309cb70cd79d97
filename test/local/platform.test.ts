/**
 * The embedded default end to end: the platform in this process on a free port with a temp
 * data directory, real dynalite and s3rver, real worker processes, plain HTTP from the outside.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildFlow } from "../../lib/bundler";
import {
  RESTART_MESSAGE,
  startLocalPlatform,
  type LocalPlatform,
  type LocalPlatformOptions,
} from "../../lib/local/platform";
import { registerArtifact } from "../../lib/local/registration";
import type { Clock } from "../../lib/local/scheduler";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");

type Json = Record<string, unknown>;

async function http(
  platform: LocalPlatform,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    ...(body !== undefined
      ? {
          headers: { "content-type": "application/json" },
          body: typeof body === "string" ? body : JSON.stringify(body),
        }
      : {}),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

async function waitForRun(
  platform: LocalPlatform,
  runId: string,
  done: (run: Json) => boolean,
  what: string,
): Promise<Json> {
  const deadline = Date.now() + 45_000;
  let run: Json = {};
  while (Date.now() < deadline) {
    run = (await http(platform, "GET", `/runs/${runId}`)).body;
    if (done(run)) return run;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} never became ${what}; last seen ${JSON.stringify(run)}`);
}

const terminal = (run: Json) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(run.status as string);

class FakeClock implements Clock {
  current = new Date("2025-03-14T08:59:30Z");
  now(): Date {
    return new Date(this.current);
  }
}

describe("local platform", () => {
  let dataDir: string;
  let workerCommand: string[];
  let platform: LocalPlatform;
  const clock = new FakeClock();

  const start = (extra: Partial<LocalPlatformOptions> = {}) =>
    startLocalPlatform({
      dataDir,
      cwd: REPO,
      port: 0,
      workerCommand,
      startScheduler: false,
      clock,
      stopGraceMs: 3000,
      ...extra,
    });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dagy-platform-"));
    // The worker is bundled once (cached under .dagy/build) and shared by every run.
    workerCommand = await defaultWorkerCommand();
    platform = await start();
    const sleepy = await buildFlow({ entry: join(__dirname, "flows", "sleepy.ts"), cwd: REPO });
    await registerArtifact(
      { ...platform, artifactBucket: platform.buckets.artifacts },
      "acme-corp",
      sleepy.spec,
      sleepy.artifact,
    );
  });

  afterAll(async () => {
    await platform?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const ids: Record<string, string> = {};

  it("registers the example flows for acme-corp at start", async () => {
    expect(platform.examples.map((e) => [e.flowName, e.status])).toEqual(
      expect.arrayContaining([
        ["etl_pipeline", "registered"],
        ["hello", "registered"],
      ]),
    );
    const { status, body } = await http(platform, "GET", "/flows?org_id=acme-corp");
    expect(status).toBe(200);
    const names = (body.flows as Array<{ flow_name: string }>).map((f) => f.flow_name);
    expect(names).toEqual(expect.arrayContaining(["etl_pipeline", "hello", "sleepy"]));
  });

  it("launches a version registered a moment ago as latest (flow reads are kept only between writes)", async () => {
    // An org of its own (the other tests count acme-corp's hello runs), and versions of its own
    // (artifact keys are per flow and version).
    const orgId = "versions-corp";
    const register = async (version: string) => {
      const built = await buildFlow({
        entry: join(REPO, "examples", "flows", "hello.ts"),
        cwd: REPO,
        version,
      });
      await registerArtifact(
        { ...platform, artifactBucket: platform.buckets.artifacts },
        orgId,
        built.spec,
        built.artifact,
      );
    };
    const launch = async () => {
      const launched = await http(platform, "POST", "/flows/hello/runs", {
        org_id: orgId,
        parameters: { name: "versions" },
      });
      expect(launched.status).toBe(200);
      const runId = launched.body.run_id as string;
      return waitForRun(platform, `${runId}?org_id=${orgId}`, terminal, "terminal");
    };
    await register("9.0.0");
    const before = await launch();
    expect(before).toMatchObject({ status: "SUCCEEDED", flow_version: "9.0.0" });
    await launch(); // read again: kept
    await register("9.0.1");
    const after = await launch();
    expect(after).toMatchObject({ status: "SUCCEEDED", flow_version: "9.0.1" });
    expect(after.artifact_sha256).not.toBe(before.artifact_sha256);
  });

  it("answers the guide's request verbatim: s3://bucket/input.csv is seeded, the run SUCCEEDS", async () => {
    const launched = await http(
      platform,
      "POST",
      "/flows/etl_pipeline/runs",
      '{"org_id": "acme-corp", "parameters": {"date": "2024-03-14", "source": "s3://bucket/input.csv"}}',
    );
    expect(launched.status).toBe(200);
    const runId = launched.body.run_id as string;
    const run = await waitForRun(platform, runId, terminal, "terminal");
    expect(run).toMatchObject({ status: "SUCCEEDED", error_message: null });
    // No destination: the report goes to a per-run folder under the workers' cwd.
    const report = join(REPO, ".dagy", "out", runId, "report.json");
    try {
      const written = JSON.parse(await readFile(report, "utf8")) as Json;
      expect(written).toMatchObject({ date: "2024-03-14", order_count: 20 });
    } finally {
      await rm(join(REPO, ".dagy", "out", runId), { recursive: true, force: true });
    }
  });

  it("runs the guide's POST /flows/etl_pipeline/runs to SUCCEEDED and writes the report", async () => {
    const destination = join(dataDir, "out", "orders.json");
    const launched = await http(platform, "POST", "/flows/etl_pipeline/runs", {
      org_id: "acme-corp",
      parameters: { date: "2024-03-14", source: "examples/data/orders.csv", destination },
    });
    expect(launched.status).toBe(200);
    expect(Object.keys(launched.body).sort()).toEqual(["run_id", "success", "task_arn"]);
    expect(launched.body.success).toBe(true);
    const runId = launched.body.run_id as string;
    ids.succeeded = runId;

    const run = await waitForRun(platform, runId, terminal, "terminal");
    expect(run).toMatchObject({
      run_id: runId,
      flow_name: "etl_pipeline",
      status: "SUCCEEDED",
      error_message: null,
    });
    expect(typeof run.started_at).toBe("string");
    expect(typeof run.completed_at).toBe("string");
    const report = JSON.parse(await readFile(destination, "utf8")) as { order_count: number };
    expect(report.order_count).toBeGreaterThan(0);
    // The worker's JSON log is where `dagy logs` reads it.
    const log = await readFile(join(dataDir, "logs", `${runId}.log`), "utf8");
    expect(log).toContain('"event_type":"run_succeeded"');

    const list = await http(platform, "GET", "/runs?org_id=acme-corp&flow_name=etl_pipeline");
    expect(list.status).toBe(200);
    expect((list.body.runs as Json[]).map((r) => r.run_id)).toContain(runId);
  });

  it("answers an unknown run with the guide's 404", async () => {
    const missing = await http(platform, "GET", "/runs/00000000-0000-4000-8000-000000000000");
    expect(missing).toEqual({ status: 404, body: { error: "Run not found" } });
  });

  it("refuses a bad body with a 400 naming the problem, and launches nothing", async () => {
    const malformed = await http(platform, "POST", "/flows/etl_pipeline/runs", "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/malformed JSON/);
    const badParameters = await http(platform, "POST", "/flows/etl_pipeline/runs", {
      org_id: "acme-corp",
      parameters: "source=orders.csv",
    });
    expect(badParameters.status).toBe(400);
    expect(badParameters.body.error).toMatch(/parameters/);
    const noOrg = await http(platform, "POST", "/flows/etl_pipeline/runs", { parameters: {} });
    expect(noOrg.status).toBe(400);
    expect(noOrg.body.error).toMatch(/org_id/);
  });

  it("cancels a running run: the worker stops and the run ends CANCELLED", async () => {
    const launched = await http(platform, "POST", "/flows/sleepy/runs", {
      org_id: "acme-corp",
      parameters: { seconds: 120 },
    });
    const runId = launched.body.run_id as string;
    ids.cancelled = runId;
    await waitForRun(platform, runId, (r) => r.status === "RUNNING", "RUNNING");
    const cancel = await http(platform, "POST", `/runs/${runId}/cancel`, {
      org_id: "acme-corp",
      reason: "test",
    });
    expect(cancel.status).toBe(200);
    const run = await waitForRun(platform, runId, terminal, "terminal");
    expect(run.status).toBe("CANCELLED");
    // The worker records CANCELLED, then exits: its exit may still be on its way.
    const deadline = Date.now() + 10_000;
    while (platform.backend.stats.running > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await platform.settled();
    expect(platform.backend.stats.running).toBe(0);
  });

  it("reconciles a worker killed with SIGKILL to FAILED with the reason", async () => {
    const pidFile = join(dataDir, "sleepy.pid");
    const launched = await http(platform, "POST", "/flows/sleepy/runs", {
      org_id: "acme-corp",
      parameters: { seconds: 120, pid_file: pidFile },
    });
    const runId = launched.body.run_id as string;
    ids.killed = runId;
    const deadline = Date.now() + 45_000;
    while (!existsSync(pidFile) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(Number(await readFile(pidFile, "utf8")), "SIGKILL");
    const run = await waitForRun(platform, runId, terminal, "terminal");
    expect(run.status).toBe("FAILED");
    expect(run.error_message).toMatch(/killed \(SIGKILL\)/);
    expect(run.exit_code).toBe(137);
  });

  it("fires a due schedule through the launch path exactly once", async () => {
    const created = await http(platform, "POST", "/schedules", {
      name: "hello-every-minute",
      org_id: "acme-corp",
      flow_name: "hello",
      expression: "rate(1 minute)",
      parameters: { name: "schedule" },
    });
    expect(created.status).toBe(200);
    expect(await platform.schedules.tick()).toBe(0);

    clock.current = new Date(clock.current.getTime() + 60_000);
    expect(await platform.schedules.tick()).toBe(1);
    expect(await platform.schedules.tick()).toBe(0);

    const list = await http(platform, "GET", "/runs?org_id=acme-corp&flow_name=hello");
    const runs = list.body.runs as Json[];
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger_source: "schedule", flow_name: "hello" });
    ids.scheduled = runs[0]!.run_id as string;
    const run = await waitForRun(platform, ids.scheduled, terminal, "terminal");
    expect(run.status).toBe("SUCCEEDED");
  });

  it("keeps flows, runs and schedules across a restart and fails runs left active", async () => {
    // A run the previous session left QUEUED, as if that process had been killed.
    const now = new Date().toISOString();
    const orphan = "11111111-1111-4111-8111-111111111111";
    await platform.persistence.runs.create({
      run_id: orphan,
      org_id: "acme-corp",
      flow_name: "hello",
      flow_version: "1.0.0",
      status: "QUEUED",
      environment: "local",
      correlation_id: orphan,
      trigger_source: "api",
      artifact_s3_uri: "s3://dagy-local-artifacts/flows/hello/1.0.0/artifact.zip",
      artifact_sha256: "0".repeat(64),
      dep_package_uris: [],
      secret_names: [],
      created_at: now,
      updated_at: now,
    });
    await platform.close();
    expect(existsSync(join(dataDir, "platform.json"))).toBe(false);

    platform = await start();
    expect(platform.recoveredRuns).toEqual([orphan]);
    expect(platform.examples.every((e) => e.status === "unchanged")).toBe(true);

    for (const [key, status] of [
      ["succeeded", "SUCCEEDED"],
      ["cancelled", "CANCELLED"],
      ["killed", "FAILED"],
      ["scheduled", "SUCCEEDED"],
    ] as const) {
      const { body } = await http(platform, "GET", `/runs/${ids[key]}`);
      expect(body.status).toBe(status);
    }
    const recovered = await http(platform, "GET", `/runs/${orphan}`);
    expect(recovered.body).toMatchObject({ status: "FAILED", error_message: RESTART_MESSAGE });

    const schedules = await http(platform, "GET", "/schedules?org_id=acme-corp");
    expect((schedules.body.schedules as Json[]).map((s) => s.name)).toEqual(["hello-every-minute"]);
  });

  it("refuses to start a second platform on the same data directory", async () => {
    // platform.json names this (live) process; another process would be refused the same way.
    await expect(
      startLocalPlatform({ dataDir, cwd: REPO, port: 0, workerCommand }),
    ).rejects.toThrow(/already running on/);
  });
});
