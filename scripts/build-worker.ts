/**
 * Builds the worker bundle: `npx tsx scripts/build-worker.ts [--out <dir>] [--force]`, writing
 * `<dir>/worker.js` (default .dagy/build). Dockerfile.worker runs it with `--out /src/dist
 * --force` and copies `/src/dist/worker.js` into the image.
 */
import { buildWorkerBundle } from "../lib/worker/bundle";

function parseArgs(argv: readonly string[]): { out?: string; force: boolean } {
  let out: string | undefined;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--out") {
      out = argv[++i];
      if (out === undefined) throw new Error("--out needs a directory");
    } else if (arg === "--force") {
      force = true;
    } else {
      throw new Error(`unknown argument ${arg}; usage: build-worker.ts [--out <dir>] [--force]`);
    }
  }
  return { ...(out !== undefined ? { out } : {}), force };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const result = await buildWorkerBundle(args.out, { force: args.force });
  const size = (result.bytes / 1024).toFixed(0);
  console.log(`${result.built ? "built" : "up to date"}: ${result.file} (${size} KiB)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
