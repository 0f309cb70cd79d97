/**
 * The worker as one JavaScript file: worker/main.ts bundled by esbuild with the AWS SDK and
 * everything else it imports (tree-shaken). Node loads it in a fraction of the time tsx needs
 * to compile the TypeScript sources, which is what keeps cold start (process start to first
 * task) small. The Docker image ships exactly this file (Dockerfile.worker), and LocalBackend
 * runs it as a child process.
 *
 * Builds are cached: a manifest beside the output lists every input file with its size and
 * mtime, and the bundle is rebuilt only when one of them (or the build options) changed.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { createHash } from "node:crypto";

/** Output name inside the output directory (and `/app/worker.js` in the image). */
export const WORKER_BUNDLE_FILE = "worker.js";

/**
 * Modules the worker imports but never calls at run time: esbuild (used by `buildFlow`,
 * which shares a module with `loadArtifact`). Left out of the bundle and out of the image.
 */
export const WORKER_BUNDLE_EXTERNALS = ["esbuild"] as const;

/** Node version the bundle is lowered for: the oldest that runs Dagy (engines >= 20). */
export const WORKER_BUNDLE_TARGET = "node20";

interface BundleManifest {
  readonly optionsHash: string;
  readonly inputs: Record<string, { size: number; mtimeMs: number }>;
}

/** The repository root: the nearest folder above this file holding worker/main.ts. */
export function findWorkerSourceRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    if (
      existsSync(path.join(dir, "worker", "main.ts")) &&
      existsSync(path.join(dir, "package.json"))
    ) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `cannot find worker/main.ts above ${from}: the worker bundle is built from Dagy's sources`,
      );
    }
    dir = parent;
  }
}

function buildOptions(root: string, outfile: string) {
  return {
    entryPoints: [path.join(root, "worker", "main.ts")],
    absWorkingDir: root,
    outfile,
    bundle: true,
    platform: "node" as const,
    format: "cjs" as const,
    target: WORKER_BUNDLE_TARGET,
    external: [...WORKER_BUNDLE_EXTERNALS],
    // ES module builds first: the AWS SDK's tree-shake to the commands we use (a quarter less
    // code for Node to compile at start than the CommonJS builds).
    mainFields: ["module", "main"],
    // Syntax only: identifiers keep their names (error class names come from
    // `new.target.name`), and lines stay short, so stack traces and the source line Node
    // prints on a crash stay readable without a source map.
    minifySyntax: true,
    keepNames: true,
    legalComments: "none" as const,
    metafile: true,
    logLevel: "silent" as const,
    tsconfig: path.join(root, "tsconfig.json"),
  };
}

function optionsHash(root: string): string {
  const esbuildVersion = (
    JSON.parse(readFileSync(require.resolve("esbuild/package.json"), "utf8")) as { version: string }
  ).version;
  const { entryPoints, external, target, tsconfig, mainFields } = buildOptions(root, "");
  return createHash("sha256")
    .update(
      JSON.stringify({
        esbuildVersion,
        entryPoints,
        external,
        target,
        tsconfig,
        mainFields,
        v: 3,
      }),
    )
    .digest("hex");
}

async function isFresh(root: string, outFile: string, manifestFile: string): Promise<boolean> {
  if (!existsSync(outFile) || !existsSync(manifestFile)) return false;
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await readFile(manifestFile, "utf8")) as BundleManifest;
  } catch {
    return false;
  }
  if (manifest.optionsHash !== optionsHash(root)) return false;
  const checks = await Promise.all(
    Object.entries(manifest.inputs).map(async ([file, recorded]) => {
      const current = await stat(path.resolve(root, file)).catch(() => undefined);
      return current?.size === recorded.size && current.mtimeMs === recorded.mtimeMs;
    }),
  );
  return checks.every(Boolean);
}

export interface BuildWorkerBundleResult {
  /** Absolute path of the bundle. */
  readonly file: string;
  /** False when a cached bundle was up to date. */
  readonly built: boolean;
  readonly bytes: number;
}

/**
 * Builds the worker bundle into `outDir` (default `<repo>/.dagy/build`) unless the cached one is
 * up to date. Safe to call from several processes at once: every file is written under a
 * temporary name and renamed into place.
 */
export async function buildWorkerBundle(
  outDir?: string,
  options: { readonly force?: boolean } = {},
): Promise<BuildWorkerBundleResult> {
  const root = findWorkerSourceRoot();
  const dir = path.resolve(outDir ?? path.join(root, ".dagy", "build"));
  const outFile = path.join(dir, WORKER_BUNDLE_FILE);
  const manifestFile = `${outFile}.inputs.json`;
  if (!options.force && (await isFresh(root, outFile, manifestFile))) {
    return { file: outFile, built: false, bytes: (await stat(outFile)).size };
  }
  await mkdir(dir, { recursive: true });
  const esbuild = await import("esbuild");
  const unique = `${process.pid}.${Date.now()}.tmp`;
  const result = await esbuild.build(buildOptions(root, `${outFile}.${unique}`));
  const inputs: BundleManifest["inputs"] = {};
  for (const file of Object.keys(result.metafile?.inputs ?? {})) {
    const info = await stat(path.resolve(root, file)).catch(() => undefined);
    if (info) inputs[file] = { size: info.size, mtimeMs: info.mtimeMs };
  }
  await rename(`${outFile}.${unique}`, outFile);
  const manifest: BundleManifest = { optionsHash: optionsHash(root), inputs };
  await writeFile(`${manifestFile}.${unique}`, JSON.stringify(manifest));
  await rename(`${manifestFile}.${unique}`, manifestFile);
  return { file: outFile, built: true, bytes: (await stat(outFile)).size };
}

/** The path of an up-to-date worker bundle, building it when needed. */
export async function ensureWorkerBundle(outDir?: string): Promise<string> {
  return (await buildWorkerBundle(outDir)).file;
}

/** The command LocalBackend runs for each run: this Node and the bundled worker. */
export async function defaultWorkerCommand(): Promise<string[]> {
  return [process.execPath, await ensureWorkerBundle()];
}
