/**
 * Isolated maps on the embedded default, end to end: real worker processes for the parent and
 * for every child run, the parent asking the local API for its children (DAGY_API_URL),
 * listing them by parent_run_id, joining their outputs in order; cancel and a dead parent
 * leave no child running.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildFlow } from "../../lib/bundler";
import { main as dagy } from "../../lib/cli";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { registerArtifact } from "../../lib/local/registration";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");
const ORG = "acme-corp";

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
      ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
      : {}),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const isTerminal = (status: unknown) =>
  ["SUCCEEDED", "FAILED", "CANCELLED"].includes(String(status));

async function terminalRun(platform: LocalPlatform, runId: string): Promise<Json> {
  return until(`run ${runId} to end`, async () => {
    const run = (await http(platform, "GET", `/runs/${runId}?org_id=${ORG}`)).body;
    return isTerminal(run.status) ? run : undefined;
  });
}

async function children(platform: LocalPlatform, parentRunId: string): Promise<Json[]> {
  const listed = await http(platform, "GET", `/runs?org_id=${ORG}&parent_run_id=${parentRunId}`);
  expect(listed.status).toBe(200);
  // Listed in creation order (the by_parent index's sort key); a batch of children is launched
  // concurrently, so that is not always list order: put them in list order by their position.
  const position = (run: Json) => Number(String(run.correlation_id).split(":").pop());
  return (listed.body.runs as Json[]).sort((a, b) => position(a) - position(b));
}

describe("isolated maps on the local platform", () => {
  let dataDir: string;
  let platform: LocalPlatform;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dagy-isolated-"));
    platform = await startLocalPlatform({
      dataDir,
      cwd: REPO,
      port: 0,
      workerCommand: await defaultWorkerCommand(),
      startScheduler: false,
      registerExamples: false,
      concurrency: 8,
      stopGraceMs: 3000,
    });
    for (const entry of [
      join(__dirname, "flows", "isolated.ts"),
      join(REPO, "examples", "flows", "fan_out_isolated.ts"),
    ]) {
      const built = await buildFlow({ entry, cwd: REPO });
      await registerArtifact(
        { ...platform, artifactBucket: platform.buckets.artifacts },
        ORG,
        built.spec,
        built.artifact,
      );
    }
  });

  afterAll(async () => {
    await platform?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("runs each item as a child run in its own worker and joins the outputs in order", async () => {
    const outFile = join(dataDir, "joined.json");
    const launched = await http(platform, "POST", "/flows/isolated/runs", {
      org_id: ORG,
      correlation_id: "fan-1",
      parameters: { count: 5, fail_item: 3, out_file: outFile },
    });
    expect(launched.body.success).toBe(true);
    const parentId = launched.body.run_id as string;
    const parent = await terminalRun(platform, parentId);
    expect(parent.status).toBe("SUCCEEDED");

    const joined = JSON.parse(await readFile(outFile, "utf8")) as {
      squares: Array<number | null>;
      pids: Array<number | null>;
      parent: number;
    };
    // Item 3 failed (tolerated: its slot is null); the rest in list order.
    expect(joined.squares).toEqual([0, 1, 4, null, 16]);
    // Every item ran in a worker process of its own, none in the parent's.
    const pids = joined.pids.filter((p): p is number => p !== null);
    expect(new Set(pids).size).toBe(4);
    expect(pids).not.toContain(joined.parent);

    const states = parent.task_states as Record<string, { map?: Json }>;
    expect(states.work?.map).toMatchObject({ total: 5, succeeded: 4, failed: 1, running: 0 });

    const kids = await children(platform, parentId);
    expect(kids.map((k) => k.correlation_id)).toEqual([0, 1, 2, 3, 4].map((i) => `fan-1:${i}`));
    expect(kids.map((k) => k.status)).toEqual([
      "SUCCEEDED",
      "SUCCEEDED",
      "SUCCEEDED",
      "FAILED",
      "SUCCEEDED",
    ]);
    for (const kid of kids) {
      expect(kid).toMatchObject({ parent_run_id: parentId, trigger_source: "map" });
    }
    const failedKid = (await http(platform, "GET", `/runs/${kids[3]!.run_id as string}`)).body;
    expect(failedKid).toMatchObject({ map_task: "work", map_items: "3-3" });
    expect(failedKid.error_message).toMatch(/item 3 refused/);
  });

  it("runs the fan_out_isolated example: two shards per child, merged and checked", async () => {
    const launched = await http(platform, "POST", "/flows/fan_out_isolated/runs", {
      org_id: ORG,
      parameters: { n: 1000, shard_size: 125 },
    });
    const parentId = launched.body.run_id as string;
    const parent = await terminalRun(platform, parentId);
    // merge fails the run unless the shards' sums add up to n(n+1)(2n+1)/6.
    expect(parent).toMatchObject({ status: "SUCCEEDED" });
    const kids = await children(platform, parentId);
    expect(kids.map((k) => [k.map_items, k.status])).toEqual([
      ["0-1", "SUCCEEDED"],
      ["2-3", "SUCCEEDED"],
      ["4-5", "SUCCEEDED"],
      ["6-7", "SUCCEEDED"],
    ]);
    const kid = (await http(platform, "GET", `/runs/${kids[0]!.run_id as string}`)).body;
    expect(kid).toMatchObject({ resources: { workload_profile: "small", cpu: "256" } });

    // The CLI lists the same children: dagy runs --parent <run_id>.
    let out = "";
    const code = await dagy(["runs", "--parent", parentId, "--url", platform.url, "--org", ORG], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "" },
      stdout: (text) => (out += text),
      stderr: (text) => (out += text),
    });
    expect(code).toBe(0);
    for (const k of kids) expect(out).toContain(k.run_id as string);
    expect(out).toContain("map");
  });

  it("cancelling the parent cancels its children", async () => {
    const launched = await http(platform, "POST", "/flows/isolated/runs", {
      org_id: ORG,
      parameters: { count: 3, hold_seconds: 120 },
    });
    const parentId = launched.body.run_id as string;
    await until("a child to run", async () =>
      (await children(platform, parentId)).some((k) => k.status === "RUNNING") ? true : undefined,
    );
    const cancel = await http(platform, "POST", `/runs/${parentId}/cancel`, { org_id: ORG });
    expect(cancel.status).toBe(200);
    expect((await terminalRun(platform, parentId)).status).toBe("CANCELLED");
    const kids = await until("every child to end", async () => {
      const all = await children(platform, parentId);
      return all.length === 3 && all.every((k) => isTerminal(k.status)) ? all : undefined;
    });
    expect(kids.map((k) => k.status)).toEqual(["CANCELLED", "CANCELLED", "CANCELLED"]);
  });

  it("a parent whose worker dies is reconciled and leaves no child running", async () => {
    const pidFile = join(dataDir, "parent.pid");
    const launched = await http(platform, "POST", "/flows/isolated/runs", {
      org_id: ORG,
      parameters: { count: 2, hold_seconds: 120, pid_file: pidFile },
    });
    const parentId = launched.body.run_id as string;
    await until("both children to run", async () => {
      const all = await children(platform, parentId);
      return all.length === 2 && all.every((k) => k.status === "RUNNING") ? true : undefined;
    });
    expect(existsSync(pidFile)).toBe(true);
    process.kill(Number(await readFile(pidFile, "utf8")), "SIGKILL");
    const parent = await terminalRun(platform, parentId);
    expect(parent.status).toBe("FAILED");
    expect(parent.error_message).toMatch(/SIGKILL/);
    const kids = await until("every child to end", async () => {
      const all = await children(platform, parentId);
      return all.every((k) => isTerminal(k.status)) ? all : undefined;
    });
    expect(kids.map((k) => k.status)).toEqual(["CANCELLED", "CANCELLED"]);
  });
});
