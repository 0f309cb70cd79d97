/**
 * The local platform's warm pool (`dagy dev --warm N`, issue #14), through the HTTP API: a run
 * handed to a warm worker shows `start_mode: "warm"`, can be cancelled like any run, and a warm
 * worker that dies during its run is reconciled as a cold one (relaunched or failed with the
 * reason) — never left RUNNING.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildFlow } from "../../lib/bundler";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { registerArtifact } from "../../lib/local/registration";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");
type Json = Record<string, unknown>;

let dataDir: string;
let platform: LocalPlatform;

async function http(method: string, path: string, body?: unknown): Promise<Json> {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    ...(body !== undefined
      ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
      : {}),
  });
  return (await response.json()) as Json;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const finished = (runId: string) =>
  until(`run ${runId} to end`, async () => {
    const run = await http("GET", `/runs/${runId}`);
    return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(run.status as string) ? run : undefined;
  });

const pidOf = (file: string) =>
  until("the task's pid", () => {
    try {
      const text = readFileSync(file, "utf8");
      return Promise.resolve(text ? Number(text) : undefined);
    } catch {
      return Promise.resolve(undefined);
    }
  });

const poolFull = () =>
  until("the pool to be full", () =>
    Promise.resolve(platform.backend.stats.idle >= 2 ? true : undefined),
  );

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "dagy-warm-"));
  platform = await startLocalPlatform({
    dataDir,
    cwd: REPO,
    port: 0,
    workerCommand: await defaultWorkerCommand(),
    startScheduler: false,
    stopGraceMs: 3000,
    warm: 2,
  });
  const sleepy = await buildFlow({ entry: join(__dirname, "flows", "sleepy.ts"), cwd: REPO });
  await registerArtifact(
    { ...platform, artifactBucket: platform.buckets.artifacts },
    "acme-corp",
    sleepy.spec,
    sleepy.artifact,
  );
}, 120_000);

afterAll(async () => {
  await platform?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("the warm pool on the local platform", () => {
  it("GET /runs/{id} shows start_mode warm on the attempt", async () => {
    await poolFull();
    const launched = await http("POST", "/flows/hello/runs", {
      org_id: "acme-corp",
      parameters: { name: "warm" },
    });
    const run = await finished(launched.run_id as string);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.attempts).toEqual([
      expect.objectContaining({ attempt: 1, start_mode: "warm", task_arn: launched.task_arn }),
    ]);
  }, 60_000);

  it("cancels a run on a warm worker (the worker is stopped)", async () => {
    await poolFull();
    const pidFile = join(dataDir, "cancel.pid");
    const launched = await http("POST", "/flows/sleepy/runs", {
      org_id: "acme-corp",
      parameters: { seconds: 60, pid_file: pidFile },
    });
    await pidOf(pidFile);
    await http("POST", `/runs/${launched.run_id as string}/cancel`, { org_id: "acme-corp" });
    const run = await finished(launched.run_id as string);
    expect(run.status).toBe("CANCELLED");
    expect((run.attempts as Json[])[0]).toMatchObject({ start_mode: "warm" });
  }, 60_000);

  it("a warm worker killed during its run: the run is relaunched or failed with a reason, never stuck", async () => {
    await poolFull();
    const pidFile = join(dataDir, "killed.pid");
    const launched = await http("POST", "/flows/sleepy/runs", {
      org_id: "acme-corp",
      parameters: { seconds: 1, pid_file: pidFile },
      max_relaunches: 1,
    });
    const runId = launched.run_id as string;
    const pid = await pidOf(pidFile);
    process.kill(pid, "SIGKILL");
    const run = await finished(runId);
    const attempts = run.attempts as Json[];
    expect(attempts[0]).toMatchObject({ start_mode: "warm" });
    expect(attempts[0]?.reason).toEqual(expect.stringContaining("SIGKILL"));
    if (run.status === "FAILED") {
      expect(run.error_message).toEqual(expect.any(String));
    } else {
      // Relaunched: the second attempt ran the run to its end.
      expect(run.status).toBe("SUCCEEDED");
      expect(attempts).toHaveLength(2);
    }
  }, 90_000);
});
