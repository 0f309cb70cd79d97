/**
 * CDK synth time: wall time of `npx cdk synth -c environment=develop -o <tmp> -q`, median of 3,
 * which bundles the four Lambdas with esbuild, stages the worker image context and runs cdk-nag.
 * Baseline: the CLI floor, `npx cdk --version` (median of 3) — what any cdk command costs before
 * the app runs — so the difference is the app's own synth cost.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";

const RUNS = 3;
const REPO_ROOT = path.resolve(__dirname, "..");

function run(args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("npx", [...args], { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`npx ${args.join(" ")} exited with ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

async function median(label: string, args: readonly string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await run(args));
  times.sort((a, b) => a - b);
  const middle = times[Math.floor(RUNS / 2)]!;
  console.log(
    `${label}: median ${(middle / 1000).toFixed(1)} s (runs: ${times.map((t) => (t / 1000).toFixed(1)).join(", ")} s)`,
  );
  return middle;
}

export async function main(): Promise<void> {
  const outdir = mkdtempSync(path.join(tmpdir(), "dagy-bench-synth-"));
  try {
    const floor = await median("baseline: npx cdk --version (CLI floor)", ["cdk", "--version"]);
    const synth = await median("cdk synth -c environment=develop -q", [
      "cdk",
      "synth",
      "-c",
      "environment=develop",
      "-o",
      outdir,
      "-q",
    ]);
    console.log(`app synth cost over the CLI floor: ${((synth - floor) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
