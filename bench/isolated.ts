/**
 * Isolated maps. Measured: an isolated map of 200 items on the local platform (one child run,
 * one worker process, per item) from POST to SUCCEEDED, against 200 separate launches of a
 * one-task flow through POST /runs/batch at the same concurrency. Modelled (printed, with its
 * sources and assumptions): 10,000 items on Fargate, beside Step Functions Distributed Map.
 *
 *   npx tsx bench/isolated.ts [--items 200] [--concurrency 8]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildFlow } from "../lib/bundler";
import { startLocalPlatform, type LocalPlatform } from "../lib/local/platform";
import { registerArtifact } from "../lib/local/registration";

const REPO = resolve(__dirname, "..");
const ORG = "acme-corp";
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? undefined : Number(process.argv[i + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

async function call(platform: LocalPlatform, method: string, path: string, body?: unknown) {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    ...(body !== undefined
      ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
      : {}),
  });
  if (!response.ok)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

async function waitAll(platform: LocalPlatform, runIds: readonly string[]): Promise<void> {
  const open = new Set(runIds);
  while (open.size > 0) {
    for (const id of [...open]) {
      const run = await call(platform, "GET", `/runs/${id}`);
      if (TERMINAL.has(String(run.status))) {
        if (run.status !== "SUCCEEDED") throw new Error(`run ${id} ${String(run.status)}`);
        open.delete(id);
      }
    }
    if (open.size > 0) await new Promise((r) => setTimeout(r, 200));
  }
}

async function isolatedMap(platform: LocalPlatform, items: number): Promise<number> {
  const started = Date.now();
  const launched = await call(platform, "POST", "/flows/isolated/runs", {
    org_id: ORG,
    parameters: { count: items },
  });
  await waitAll(platform, [launched.run_id as string]);
  const elapsed = Date.now() - started;
  const kids = await call(
    platform,
    "GET",
    `/runs?org_id=${ORG}&parent_run_id=${launched.run_id as string}&limit=100`,
  );
  if ((kids.runs as unknown[]).length === 0) throw new Error("the map ran no child runs");
  return elapsed;
}

async function separateLaunches(platform: LocalPlatform, runs: number): Promise<number> {
  const started = Date.now();
  const ids: string[] = [];
  for (let offset = 0; offset < runs; offset += 100) {
    const batch = await call(platform, "POST", "/runs/batch", {
      org_id: ORG,
      requests: Array.from({ length: Math.min(100, runs - offset) }, () => ({
        flow_name: "hello",
      })),
    });
    for (const r of batch.results as Array<{ run_id: string }>) ids.push(r.run_id);
  }
  await waitAll(platform, ids);
  return Date.now() - started;
}

/** 10,000 items on Fargate, on paper. */
function printModel(): void {
  const items = 10_000;
  const runTaskPerSecond = 20;
  const burst = 100;
  const coldStartS = 45;
  console.log(`\nModel: ${items.toLocaleString()} items on Fargate (not measured)`);
  console.log(
    "  Source: Amazon ECS service quotas / API request throttling (Amazon ECS Developer Guide):\n" +
      `  RunTask is throttled per account per Region; Fargate task launches: ${runTaskPerSecond} tasks/s\n` +
      `  sustained, bursts of ${burst}. Assumed: no other RunTask traffic in the account/Region, one\n` +
      "  task per RunTask call (each child has its own overrides), the Fargate vCPU quota is high\n" +
      `  enough for the children running at once, ~${coldStartS} s from RunTask to the worker running\n` +
      "  (image pull + ENI; varies with image size and Region).",
  );
  for (const perChild of [1, 10, 50]) {
    const children = Math.ceil(items / perChild);
    const launchS = Math.max(0, (children - burst) / runTaskPerSecond);
    console.log(
      `  itemsPerChild ${String(perChild).padStart(2)}: ${children.toLocaleString().padStart(6)} child runs, ` +
        `launch phase ~${Math.ceil(launchS)} s at ${runTaskPerSecond}/s after a burst of ${burst}, ` +
        `last child running after ~${Math.ceil(launchS + coldStartS)} s`,
    );
  }
  console.log(
    "  Dagy paces launches at 20 children per POST /runs/batch, one request per second, doubling\n" +
      "  the pause (to 30 s) while RunTask answers throttled. The parent polls the by_parent index\n" +
      "  every 1 s growing to 10 s: with 10,000 children one poll reads 100 pages of 100 runs.\n" +
      "  Step Functions Distributed Map (AWS Step Functions Developer Guide, 'Using Map state in\n" +
      "  Distributed mode'): up to 10,000 parallel child workflow executions; children that start\n" +
      "  ECS tasks (ecs:runTask.sync) meet the same RunTask rate, so the launch phase is the same\n" +
      "  ~500 s for 10,000 tasks; Distributed Map wins on items that fit a Lambda (1,000s at once).",
  );
}

export async function main(): Promise<void> {
  const items = arg("items", 200);
  const concurrency = arg("concurrency", 8);
  const dataDir = await mkdtemp(join(tmpdir(), "dagy-bench-isolated-"));
  const platform = await startLocalPlatform({ dataDir, cwd: REPO, port: 0, concurrency });
  try {
    const built = await buildFlow({
      entry: join(REPO, "test", "local", "flows", "isolated.ts"),
      cwd: REPO,
    });
    await registerArtifact(
      { ...platform, artifactBucket: platform.buckets.artifacts },
      ORG,
      built.spec,
      built.artifact,
    );
    console.log(
      `Local platform, ${concurrency} worker processes at once (the parent of the map holds one):`,
    );
    const mapMs = await isolatedMap(platform, items);
    const separateMs = await separateLaunches(platform, items);
    console.log(
      `  isolated map of ${items} items (${items} child runs + parent): ${(mapMs / 1000).toFixed(1)} s, ` +
        `${((mapMs / items) | 0).toString()} ms/item`,
    );
    console.log(
      `  ${items} separate launches of 'hello' (POST /runs/batch): ${(separateMs / 1000).toFixed(1)} s, ` +
        `${((separateMs / items) | 0).toString()} ms/run`,
    );
    console.log(
      `  overhead of the map over separate launches: ${(((mapMs - separateMs) / separateMs) * 100).toFixed(0)}% ` +
        "(the parent's slot, its polling, input/output objects)",
    );
  } finally {
    await platform.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  printModel();
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
