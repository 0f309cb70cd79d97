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
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { sha256Hex } from "../hash";

/** Output name inside the output directory (and `/app/worker.js` in the image). */
export const WORKER_BUNDLE_FILE = "worker.js";

/**
 * A small launcher written beside the bundle, which LocalBackend runs instead of the bundle
 * itself: it runs `worker.js` with a V8 code cache kept beside it, so a local worker does not
 * compile the ~2 MB bundle on every start (about a third of its start-up time).
 */
export const WORKER_LAUNCHER_FILE = "worker-cached.js";

/**
 * The launcher's source. On Node 22.1+ it turns on Node's own compile cache
 * (`module.enableCompileCache`, kept in `.compile-cache` beside the bundle) and requires the
 * bundle. On Node 20, which has no such API, it compiles the bundle with `vm.Script` and its
 * `cachedData`, and at exit writes a fresh cache when there was none or V8 refused it (the
 * run has finished and been recorded by then). The cache file's name carries the Node version
 * and the bundle's size and mtime, and a rebuild deletes old ones: V8 itself checks only the
 * source length, which a rebuild need not change. Every cache problem falls back to a plain
 * compile: the cache is an optimization, never a requirement.
 */
const LAUNCHER_SOURCE = `"use strict";
// Written by lib/worker/bundle.ts: runs ${WORKER_BUNDLE_FILE} with a V8 code cache.
const path = require("node:path");
const Module = require("node:module");
const file = path.join(__dirname, ${JSON.stringify(WORKER_BUNDLE_FILE)});
process.argv[1] = file;
if (typeof Module.enableCompileCache === "function") {
  try {
    Module.enableCompileCache(path.join(__dirname, ".compile-cache"));
  } catch {}
  require(file);
} else {
  const fs = require("node:fs");
  const vm = require("node:vm");
  const bytes = fs.readFileSync(file);
  // ASCII (as the build keeps it) decodes as latin1 to the same string, several ms sooner.
  const source = require("node:buffer").isAscii?.(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  if (/\\bimport\\(/.test(source)) {
    // A dynamic import would find no callback in vm.Script code: run the bundle as is.
    require(file);
    return;
  }
  const info = fs.statSync(file);
  const cacheFile = \`\${file}.\${process.version}-\${info.size}-\${Math.trunc(info.mtimeMs)}.v8cache\`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {}
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once("exit", () => {
      const tmp = \`\${cacheFile}.\${process.pid}.tmp\`;
      try {
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        try {
          fs.unlinkSync(tmp);
        } catch {}
      }
    });
  }
  const mod = new Module(file, null);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  // As for \`node worker.js\`: the bundle's require.main is its own module.
  process.mainModule = mod;
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
}
`;

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
    // `import("node:http")` and the like (the AWS SDK loads a few built-ins lazily) become
    // `require`: the same module, and code compiled through vm.Script with a code cache (the
    // local launcher) has no dynamic-import callback on Node 20.
    supported: { "dynamic-import": false },
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
  const { entryPoints, external, target, tsconfig, mainFields, supported } = buildOptions(root, "");
  return sha256Hex(
    JSON.stringify({
      esbuildVersion,
      entryPoints,
      external,
      target,
      tsconfig,
      mainFields,
      supported,
      v: 4,
    }),
  );
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
    await writeLauncher(dir);
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
  await keepOneByte(`${outFile}.${unique}`);
  await rename(`${outFile}.${unique}`, outFile);
  const manifest: BundleManifest = { optionsHash: optionsHash(root), inputs };
  await writeFile(`${manifestFile}.${unique}`, JSON.stringify(manifest));
  await rename(`${manifestFile}.${unique}`, manifestFile);
  await removeStaleCodeCaches(dir);
  await writeLauncher(dir);
  return { file: outFile, built: true, bytes: (await stat(outFile)).size };
}

/**
 * esbuild escapes non-ASCII characters in code, but keeps comments as written, and one "—" in
 * a comment makes V8 hold the whole 2 MB source as a two-byte string: slower to decode, hash
 * and scan at every start (~20 ms here). Such characters in comment lines become "?"; anything
 * else is left alone (still correct, only slower).
 */
async function keepOneByte(file: string): Promise<void> {
  const text = await readFile(file, "utf8");
  if (!/[\u0080-\uffff]/.test(text)) return;
  const lines = text.split("\n");
  let changed = false;
  for (const [index, line] of lines.entries()) {
    if (!/[\u0080-\uffff]/.test(line)) continue;
    if (!/^\s*(\/\/|\/\*|\*)/.test(line)) return;
    lines[index] = line.replace(/[\u0080-\uffff]/g, "?");
    changed = true;
  }
  if (changed) await writeFile(file, lines.join("\n"));
}

/** Writes the launcher unless it is there with the current source. */
async function writeLauncher(dir: string): Promise<string> {
  const file = path.join(dir, WORKER_LAUNCHER_FILE);
  const current = await readFile(file, "utf8").catch(() => undefined);
  if (current !== LAUNCHER_SOURCE) {
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, LAUNCHER_SOURCE);
    await rename(tmp, file);
  }
  return file;
}

/** Code caches of earlier bundles: their names no longer match, and they would only pile up. */
async function removeStaleCodeCaches(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.startsWith(`${WORKER_BUNDLE_FILE}.`) && name.endsWith(".v8cache"))
      .map((name) => rm(path.join(dir, name), { force: true })),
  );
  await rm(path.join(dir, ".compile-cache"), { recursive: true, force: true });
}

/** The path of an up-to-date worker bundle, building it when needed. */
export async function ensureWorkerBundle(outDir?: string): Promise<string> {
  return (await buildWorkerBundle(outDir)).file;
}

/**
 * The command LocalBackend runs for each run: this Node and the bundled worker, through the
 * code-caching launcher (the worker behaves exactly as `node worker.js`).
 */
export async function defaultWorkerCommand(): Promise<string[]> {
  const prebuilt = prebuiltWorkerLauncher();
  if (prebuilt !== undefined) return [process.execPath, prebuilt];
  const bundle = await ensureWorkerBundle();
  return [process.execPath, path.join(path.dirname(bundle), WORKER_LAUNCHER_FILE)];
}

/**
 * In the installed package (compiled code in `dist/`, no TypeScript sources) the worker bundle
 * is built at pack time (`npm run build`) into `dist/worker.js`, beside its launcher: this
 * module is `dist/lib/worker/bundle.js`. In the repository (sources present) the bundle is
 * always built from the sources, so an old `dist/` never runs.
 */
export function prebuiltWorkerLauncher(from: string = __dirname): string | undefined {
  if (path.extname(__filename) === ".ts") return undefined;
  const distRoot = path.resolve(from, "..", "..");
  const launcher = path.join(distRoot, WORKER_LAUNCHER_FILE);
  const sourcesBeside = existsSync(path.join(distRoot, "..", "worker", "main.ts"));
  return !sourcesBeside &&
    existsSync(launcher) &&
    existsSync(path.join(distRoot, WORKER_BUNDLE_FILE))
    ? launcher
    : undefined;
}
