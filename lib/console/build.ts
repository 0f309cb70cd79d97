/**
 * Builds the console's browser bundle with esbuild, from the sources beside this file, in memory.
 * No step of `npm ci`, `npm test` or `npm start` needs a prebuilt bundle: the first request for
 * the console builds it (a few hundred milliseconds) and the process keeps it.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

/** The browser code: `lib/console/ui`. */
export const CONSOLE_UI_DIR = join(__dirname, "ui");

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly contentType: string;
}

export interface ConsoleBundle {
  /** `app.js` and `app.css`. */
  readonly assets: ReadonlyMap<string, ConsoleAsset>;
  /** Short hash of every asset, for cache-busting URLs. */
  readonly version: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

export async function buildConsoleBundle(
  options: { readonly minify?: boolean } = {},
): Promise<ConsoleBundle> {
  const result = await build({
    entryPoints: { app: join(CONSOLE_UI_DIR, "main.tsx") },
    bundle: true,
    write: false,
    outdir: "/console-assets",
    format: "iife",
    platform: "browser",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    tsconfig: join(CONSOLE_UI_DIR, "tsconfig.json"),
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: options.minify ?? true,
    legalComments: "eof",
    charset: "utf8",
    logLevel: "silent",
  });
  const assets = new Map<string, ConsoleAsset>();
  const hash = createHash("sha256");
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf("/") + 1);
    const ext = name.slice(name.lastIndexOf("."));
    const contentType = CONTENT_TYPES[ext];
    if (contentType === undefined) continue;
    const body = Buffer.from(file.contents);
    hash.update(name).update(body);
    assets.set(name, { body, gzip: gzipSync(body, { level: 9 }), contentType });
  }
  if (!assets.has("app.js")) throw new Error("console build produced no app.js");
  return { assets, version: hash.digest("hex").slice(0, 12) };
}

/**
 * The installed package has no UI sources (only compiled `dist/`): its console is the bundle
 * `npm run build` wrote to `dist/console/assets` (this module is `dist/lib/console/build.js`).
 */
export const PREBUILT_CONSOLE_DIR = join(__dirname, "..", "..", "console", "assets");

/** The prebuilt bundle, hashed and compressed as `buildConsoleBundle` does. */
export async function prebuiltConsoleBundle(
  dir: string = PREBUILT_CONSOLE_DIR,
): Promise<ConsoleBundle> {
  const assets = new Map<string, ConsoleAsset>();
  const hash = createHash("sha256");
  for (const name of ["app.css", "app.js"]) {
    const body = await readFile(join(dir, name)).catch(() => undefined);
    if (body === undefined) continue;
    hash.update(name).update(body);
    const contentType = CONTENT_TYPES[name.slice(name.lastIndexOf("."))]!;
    assets.set(name, { body, gzip: gzipSync(body, { level: 9 }), contentType });
  }
  if (!assets.has("app.js")) throw new Error(`no console bundle in ${dir} (npm run build)`);
  return { assets, version: hash.digest("hex").slice(0, 12) };
}

let shared: Promise<ConsoleBundle> | undefined;

/** The process's one console bundle, built on first use; a failed build is retried next time. */
export function consoleBundle(): Promise<ConsoleBundle> {
  if (shared === undefined) {
    shared = existsSync(join(CONSOLE_UI_DIR, "main.tsx"))
      ? buildConsoleBundle()
      : prebuiltConsoleBundle();
    shared.catch(() => {
      shared = undefined;
    });
  }
  return shared;
}
