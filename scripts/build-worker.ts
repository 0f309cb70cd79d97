/**
 * Builds the worker: `npx tsx scripts/build-worker.ts [--out <dir>] [--force] [--no-code-cache]`.
 * Writes `worker.js` (loader) and `worker-main.js` (bundle) to `<dir>` (default .dagy/build).
 * Dockerfile.worker runs it with `--out /src/dist --force --no-code-cache` and copies both files
 * into the image, which writes its own code cache for its own architecture.
 */
import { buildWorkerBundle } from "../lib/worker/bundle";

function parseArgs(argv: readonly string[]): { out?: string; force: boolean; codeCache: boolean } {
  let out: string | undefined;
  let force = false;
  let codeCache = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--out") {
      out = argv[++i];
      if (out === undefined) throw new Error("--out needs a directory");
    } else if (arg === "--force") {
      force = true;
    } else if (arg === "--no-code-cache") {
      codeCache = false;
    } else {
      throw new Error(
        `unknown argument ${arg}; usage: build-worker.ts [--out <dir>] [--force] [--no-code-cache]`,
      );
    }
  }
  return { ...(out !== undefined ? { out } : {}), force, codeCache };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const result = await buildWorkerBundle(args.out, {
    force: args.force,
    codeCache: args.codeCache,
  });
  const size = (result.bytes / 1024).toFixed(0);
  console.log(`${result.built ? "built" : "up to date"}: ${result.file} (bundle ${size} KiB)`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
