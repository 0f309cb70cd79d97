/**
 * Worker cold start: from process start to the first task running, for the example ETL flow
 * with its artifact in local S3 (s3rver) and its run in local DynamoDB (dynalite), and the time
 * to a terminal status. Each run spawns the bundled worker with DAGY_WORKER_TIMINGS=1 and reads
 * its `worker_timings` log line: first as LocalBackend runs it (the code-caching launcher,
 * `node .dagy/build/worker-cached.js`), then as the image runs it (`node worker.js`, compiled
 * from scratch every start, as in a fresh container).
 *
 *   npx tsx bench/worker.ts
 *
 * Target: < 300 ms from process start to the first task (median of 10).
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { defaultWorkerCommand } from "../lib/worker/bundle";
import { setUpEtlWorkerBench } from "./support/etl-worker";

const RUNS = 10;
const BASELINE_RUNS = 3;
const TARGET_FIRST_TASK_MS = 300;
const REPO_ROOT = path.resolve(__dirname, "..");

interface Timings {
  main: number;
  artifact_fetched: number;
  run_claimed: number;
  flow_loaded: number;
  first_task_started: number;
  run_recorded: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function runWorker(
  command: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; wallMs: number }> {
  const started = performance.now();
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = execFile(file ?? process.execPath, args, { env }, (error, stdout) => {
      if (error && child.exitCode === null) reject(new Error(error.message));
      else resolve({ code: child.exitCode, stdout, wallMs: performance.now() - started });
    });
  });
}

export async function main(): Promise<void> {
  const bench = await setUpEtlWorkerBench("dagy-bench");
  const { bundle } = bench;
  console.log(
    `worker bundle: ${path.relative(REPO_ROOT, bundle.file)} (${(bundle.bytes / 1024).toFixed(0)} KiB)`,
  );
  try {
    const measure = async (command: readonly string[], count: number) => {
      const samples: Timings[] = [];
      const walls: number[] = [];
      // One warm-up run (file-system caches), then the measured ones.
      for (let i = 0; i <= count; i++) {
        const runId = `bench-${Date.now()}-${i}`;
        const result = await runWorker(command, await bench.queueRun(runId));
        if (result.code !== 0) {
          throw new Error(`worker exited with ${result.code}:\n${result.stdout.slice(-3000)}`);
        }
        const line = result.stdout
          .split("\n")
          .find((l) => l.includes('"event_type":"worker_timings"'));
        if (line === undefined) throw new Error("the worker wrote no worker_timings line");
        if (i === 0) continue;
        samples.push(JSON.parse(line) as Timings);
        walls.push(result.wallMs);
      }
      return { samples, walls };
    };

    // Reference: what Node itself costs here before any of our code runs.
    const bare: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const out = await runWorker(
        [process.execPath, "-e", "process.stdout.write(String(performance.now()))"],
        { PATH: process.env.PATH ?? "" },
      );
      bare.push(Number(out.stdout));
    }

    const { samples, walls } = await measure(await defaultWorkerCommand(), RUNS);
    const m = (pick: (t: Timings) => number) => median(samples.map(pick)).toFixed(1);
    const firstTask = median(samples.map((t) => t.first_task_started));
    console.log(
      `ETL example flow, bundled worker through the code-caching launcher (LocalBackend), ${RUNS} runs (median), ms since worker process start:`,
    );
    console.log(`  process start -> main (node + bundle load)       ${m((t) => t.main)}`);
    console.log(`    (an empty node script reaches its first line at ${median(bare).toFixed(1)})`);
    console.log(
      `  main -> artifact fetched (S3 GET)                ${m((t) => t.artifact_fetched - t.main)}`,
    );
    console.log(
      `  main -> run claimed (GetItem + QUEUED->RUNNING)  ${m((t) => t.run_claimed - t.main)}  (overlaps the fetch)`,
    );
    console.log(
      `  fetch+claim -> flow loaded (verify, unzip, load) ${m((t) => t.flow_loaded - Math.max(t.artifact_fetched, t.run_claimed))}`,
    );
    console.log(
      `  flow loaded -> first task started                ${m((t) => t.first_task_started - t.flow_loaded)}`,
    );
    console.log(
      `  = process start -> first task started            ${firstTask.toFixed(1)}  (target < ${TARGET_FIRST_TASK_MS} ms: ${firstTask < TARGET_FIRST_TASK_MS ? "met" : "NOT met"})`,
    );
    console.log(`  process start -> terminal status recorded        ${m((t) => t.run_recorded)}`);
    console.log(`  spawn -> process exit (parent's wall clock)      ${median(walls).toFixed(1)}`);

    // The image's way: `node worker.js`, no code cache (a fresh container has none).
    const plain = await measure([process.execPath, bundle.file], RUNS);
    const pm = (pick: (t: Timings) => number) => median(plain.samples.map(pick)).toFixed(1);
    console.log(
      `plain \`node worker.js\` (as in the image, no code cache), ${RUNS} runs (median):`,
    );
    console.log(`  process start -> main (node + bundle load)     ${pm((t) => t.main)}`);
    console.log(
      `  process start -> first task started            ${pm((t) => t.first_task_started)}`,
    );
    console.log(
      `  spawn -> process exit (parent's wall clock)    ${median(plain.walls).toFixed(1)}`,
    );
    console.log(
      "before this pass (same machine, plain bundle): main 335.9, first task 473.9, exit 578.5",
    );

    // Baseline: the same worker from TypeScript through tsx, as LocalBackend ran it before.
    const tsx = await measure(
      [
        process.execPath,
        "--import",
        require.resolve("tsx"),
        path.join(REPO_ROOT, "worker/main.ts"),
      ],
      BASELINE_RUNS,
    );
    console.log(`baseline: worker/main.ts through tsx, ${BASELINE_RUNS} runs (median):`);
    console.log(
      `  process start -> first task started            ${median(tsx.samples.map((t) => t.first_task_started)).toFixed(1)}`,
    );
    console.log(`  spawn -> process exit (parent's wall clock)    ${median(tsx.walls).toFixed(1)}`);
  } finally {
    await bench.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
