/**
 * The local platform, end to end: time to ready (cold and warm start), POST to SUCCEEDED for
 * the one-task `hello` flow (median of 20, one run at a time) with a breakdown taken from the
 * run record's own timestamps, and sustained throughput for 200 small runs at the default
 * concurrency. Target: under 1 s from POST to SUCCEEDED.
 *
 *   npx tsx bench/platform.ts [--runs 20] [--batch 200]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startLocalPlatform, type LocalPlatform } from "../lib/local/platform";
import { DEFAULT_CONCURRENCY } from "../lib/local/state";

const REPO = resolve(__dirname, "..");
const TARGET_MS = 1000;
const POLL_MS = 50;

interface RunView {
  status: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  task_states?: Record<string, { started_at?: string; completed_at?: string }>;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i === -1 ? undefined : Number(process.argv[i + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const ms = (n: number) => `${Math.round(n)} ms`;

async function post(platform: LocalPlatform, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${platform.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function getRun(platform: LocalPlatform, runId: string): Promise<RunView> {
  const response = await fetch(`${platform.url}/runs/${runId}`);
  return (await response.json()) as RunView;
}

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

async function latency(platform: LocalPlatform, runs: number): Promise<void> {
  const total: number[] = [];
  const accept: number[] = [];
  const queuedToRunning: number[] = [];
  const runningToTask: number[] = [];
  const taskToDone: number[] = [];
  const recordedTotal: number[] = [];
  let failures = 0;
  // One warm-up run: the first worker start pays for the OS file cache.
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const launched = (await post(platform, "/flows/hello/runs", {
      org_id: "acme-corp",
      parameters: { name: `bench-${i}` },
    })) as { run_id: string };
    const t1 = performance.now();
    let run: RunView;
    for (;;) {
      run = await getRun(platform, launched.run_id);
      if (TERMINAL.has(run.status)) break;
      // Not faster: every poll is a GET served (with DynamoDB Local) by the platform process
      // the worker's own requests go to, and 10 ms polling slowed runs by ~50 ms.
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const t2 = performance.now();
    if (i === 0) continue;
    if (run.status !== "SUCCEEDED") failures++;
    total.push(t2 - t1 + (t1 - t0));
    accept.push(t1 - t0);
    const created = Date.parse(run.created_at);
    const started = Date.parse(run.started_at ?? run.created_at);
    const task = run.task_states?.hello;
    const taskStarted = Date.parse(task?.started_at ?? run.started_at ?? run.created_at);
    const completed = Date.parse(run.completed_at ?? run.created_at);
    queuedToRunning.push(started - created);
    runningToTask.push(taskStarted - started);
    taskToDone.push(completed - taskStarted);
    recordedTotal.push(completed - created);
  }
  const m = median(total);
  console.log(`POST -> SUCCEEDED, hello (1 task), median of ${runs} sequential runs:`);
  console.log(
    `  client-observed   median ${ms(m)}  p90 ${ms(percentile(total, 90))}  (polling every ${POLL_MS} ms)`,
  );
  console.log(
    `  recorded          median ${ms(median(recordedTotal))}  (created_at -> completed_at)`,
  );
  console.log("  breakdown (medians, from the run record's timestamps):");
  console.log(`    POST answered (HTTP + launch: record, spawn)   ${ms(median(accept))}`);
  console.log(`    created -> RUNNING (worker process start)      ${ms(median(queuedToRunning))}`);
  console.log(`    RUNNING -> first task started                  ${ms(median(runningToTask))}`);
  console.log(`    first task -> SUCCEEDED recorded               ${ms(median(taskToDone))}`);
  console.log(`  failures: ${failures}`);
  console.log(
    `  target: < ${TARGET_MS} ms -> ${m < TARGET_MS ? "MET" : "NOT MET"} (median ${ms(m)})`,
  );
  console.log(
    "  baseline: before the worker cold-start pass (plain `node worker.js`, 10 ms polling): " +
      "median 1350 ms, created -> RUNNING 1085 ms",
  );
}

async function throughput(platform: LocalPlatform, count: number): Promise<void> {
  const started = performance.now();
  const ids: string[] = [];
  // POST /runs/batch takes up to 100 launches per call.
  for (let offset = 0; offset < count; offset += 100) {
    const size = Math.min(100, count - offset);
    const answer = (await post(platform, "/runs/batch", {
      org_id: "acme-corp",
      requests: Array.from({ length: size }, (_, i) => ({
        flow_name: "hello",
        parameters: { name: `batch-${offset + i}` },
      })),
    })) as { results: Array<{ run_id: string; success: boolean }> };
    ids.push(...answer.results.filter((r) => r.success).map((r) => r.run_id));
  }
  const submitted = performance.now();
  const pending = new Set(ids);
  let failed = 0;
  while (pending.size > 0) {
    await new Promise((r) => setTimeout(r, 250));
    for (const id of [...pending]) {
      const run = await platform.persistence.runs.get(id);
      if (run && TERMINAL.has(run.status)) {
        pending.delete(id);
        if (run.status !== "SUCCEEDED") failed++;
      }
    }
  }
  const elapsed = performance.now() - started;
  console.log(
    `\nThroughput: ${count} hello runs via POST /runs/batch, concurrency ${platform.concurrency}:`,
  );
  console.log(
    `  submitted in ${ms(submitted - started)}; all terminal after ${(elapsed / 1000).toFixed(1)} s`,
  );
  console.log(
    `  ${((ids.length / elapsed) * 60_000).toFixed(0)} runs/minute sustained; ${failed} not SUCCEEDED`,
  );
  console.log(
    `  baseline: one worker process per run (as one Fargate task per run), ${DEFAULT_CONCURRENCY} at once`,
  );
}

export async function main(): Promise<void> {
  const runs = arg("runs", 20);
  const batch = arg("batch", 200);
  const dataDir = await mkdtemp(join(tmpdir(), "dagy-bench-platform-"));
  try {
    const cold = await startLocalPlatform({ dataDir, cwd: REPO, port: 0 });
    const coldReady = cold.timings;
    await cold.close();
    const platform = await startLocalPlatform({ dataDir, cwd: REPO, port: 0 });
    console.log("Time to ready (dagy dev), empty data directory -> API answering:");
    console.log(
      `  cold ${ms(coldReady.readyMs)} (stores ${ms(coldReady.storesMs)}, worker bundle ${ms(coldReady.workerMs)}, examples built+registered ${ms(coldReady.examplesMs)})`,
    );
    console.log(`  warm restart ${ms(platform.timings.readyMs)}`);
    console.log("  target: a new user sees a flow run within a minute of cloning\n");
    try {
      await latency(platform, runs);
      await throughput(platform, batch);
    } finally {
      await platform.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
