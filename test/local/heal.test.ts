/**
 * Out of memory on a laptop: the local backend limits each worker's Node heap to its run's
 * memory, so a real worker that exhausts it is reconciled as ECS reconciles a container killed
 * for memory — FAILED with the clear message, or relaunched bigger with `oom_policy: scale_up`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildFlow } from "../../lib/bundler";
import { main } from "../../lib/cli";
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

async function finished(runId: string): Promise<Json> {
  const deadline = Date.now() + 90_000;
  let run: Json = {};
  while (Date.now() < deadline) {
    run = await http("GET", `/runs/${runId}`);
    if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(run.status as string)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish; last seen ${JSON.stringify(run)}`);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "dagy-heal-"));
  platform = await startLocalPlatform({
    dataDir,
    cwd: REPO,
    port: 0,
    workerCommand: await defaultWorkerCommand(),
    startScheduler: false,
    stopGraceMs: 3000,
    concurrency: 1,
  });
  const hog = await buildFlow({ entry: join(__dirname, "flows", "hog.ts"), cwd: REPO });
  await registerArtifact(
    { ...platform, artifactBucket: platform.buckets.artifacts },
    "acme-corp",
    hog.spec,
    hog.artifact,
  );
}, 120_000);

afterAll(async () => {
  await platform?.close();
  await rm(dataDir, { recursive: true, force: true });
});

let failedHogRun = "";

describe("out of memory, locally", () => {
  it("a worker out of heap on the small profile ends FAILED with the clear message", async () => {
    const launched = await http("POST", "/flows/hog/runs", {
      org_id: "acme-corp",
      workload_profile: "small",
    });
    const run = await finished(launched.run_id as string);
    failedHogRun = run.run_id as string;
    expect(run.status).toBe("FAILED");
    expect(run.exit_code).toBe(137);
    expect(run.error_message).toMatch(
      /^Worker ran out of memory and was killed; launch with a larger workload_profile or memory/,
    );
    expect(run.attempts).toEqual([
      expect.objectContaining({ attempt: 1, workload_profile: "small", outcome: "failed" }),
    ]);
  }, 120_000);

  it("with oom_policy scale_up it is relaunched on medium and succeeds: one run, two attempts", async () => {
    const launched = await http("POST", "/flows/hog/runs", {
      org_id: "acme-corp",
      workload_profile: "small",
      oom_policy: "scale_up",
    });
    const run = await finished(launched.run_id as string);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.relaunches).toBe(1);
    const attempts = run.attempts as Json[];
    expect(attempts.map((a) => [a.workload_profile, a.memory, a.outcome ?? null])).toEqual([
      ["small", "512", "relaunched"],
      ["medium", "2048", null],
    ]);
    expect(attempts[0]?.reason).toMatch(
      /OutOfMemoryError.*relaunched on medium \(oom_policy scale_up\)/,
    );
    expect(attempts[1]?.task_arn).toBe(`local:${launched.run_id as string}:2`);
  }, 120_000);
});

describe("dagy rerun", () => {
  it("re-runs a failed run through the API and links the two", async () => {
    expect(failedHogRun).not.toBe("");
    let stdout = "";
    let stderr = "";
    const code = await main(["rerun", failedHogRun, "--from-failure", "--data-dir", dataDir], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "" },
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const newRunId = /^Run (\S+) re-runs/.exec(stdout)?.[1] ?? "";
    expect(stdout).toBe(`Run ${newRunId} re-runs ${failedHogRun} from its failure.\n`);
    const rerun = await http("GET", `/runs/${newRunId}`);
    expect(rerun).toMatchObject({ rerun_of: failedHogRun, rerun_from: "failure" });
    expect(await http("GET", `/runs/${failedHogRun}`)).toMatchObject({ reruns: [newRunId] });
    // Same profile as the source (small), same outcome: still out of memory.
    expect(await finished(newRunId)).toMatchObject({ status: "FAILED", exit_code: 137 });
  }, 120_000);
});
