import { existsSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import type { BuildFailure, Message } from "esbuild";
import { ValidationError } from "../errors";
import { BUNDLE_ENTRY } from "../artifact/artifact";
import { FlowBuildError } from "../artifact/errors";

/**
 * Imports left to the host at load time: the worker (or CLI) supplies its own SDK, so the DAG a
 * bundle defines is registered with the very executor that runs it; and its own S3 client (the
 * worker carries one anyway), as Lambda provides the AWS SDK, so a flow that reads `s3://` does
 * not carry ~2 MB of client and source map that every run would load. Node built-ins are
 * external by `platform: "node"`.
 */
export const HOST_MODULES = ["dagy", "dagy/*", "@aws-sdk/client-s3"] as const;

/**
 * Bundles run on the Node that runs Dagy: Node 22 in the worker image and Lambda, and Node >= 20
 * on developer machines (`engines` in package.json). Targeting the oldest keeps `dagy run` working
 * everywhere; esbuild lowers nothing that Node 20 can parse.
 */
export const BUNDLE_TARGET = "node20";

export interface FlowBundle {
  /** The CommonJS bundle, with an inline source map pointing at the flow's sources. */
  readonly code: string;
  /**
   * Absolute path the bundle is named after (`<projectRoot>/flow.js`), so the source map's
   * relative `sources` resolve to the real files when it is loaded from source.
   */
  readonly filename: string;
  /** Directory all paths inside the bundle are relative to (see `findProjectRoot`). */
  readonly projectRoot: string;
  /** The entry, relative to `projectRoot`, with `/` separators. */
  readonly entry: string;
  /**
   * The project's own files in the bundle (not node_modules), relative to `projectRoot` with `/`
   * separators, sorted: what the artifact carries as the flow's source.
   */
  readonly sources: ReadonlyArray<{ readonly path: string; readonly text: string }>;
}

/**
 * The nearest directory at or above the entry that holds a package.json, else the entry's own
 * directory. Paths in the bundle (module keys, source map) are relative to it, so the same
 * checkout builds the same bytes wherever it lives and whatever directory `dagy` runs from.
 */
export function findProjectRoot(entryAbs: string): string {
  const start = path.dirname(entryAbs);
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
}

export function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

/** Resolves and checks the entry path; the message names the path as the user wrote it. */
export function resolveEntry(entry: string, cwd: string): string {
  const abs = path.resolve(cwd, entry);
  if (!existsSync(abs)) {
    throw new ValidationError(`flow file not found: ${entry}`, "entry");
  }
  if (!statSync(abs).isFile()) {
    throw new ValidationError(`flow entry is not a file: ${entry}`, "entry");
  }
  return abs;
}

const INLINE_SOURCE_MAP = "//# sourceMappingURL=data:application/json;base64,";

/**
 * Keeps `sourcesContent` in the bundle's inline source map for the project's own files only:
 * the author's lines are what a traceback needs, while the text of every bundled npm module
 * would double a bundle that inlines, say, an AWS SDK client.
 */
function withOwnSourcesContent(code: string, own: (source: string) => boolean): string {
  const at = code.lastIndexOf(INLINE_SOURCE_MAP);
  if (at < 0) return code;
  const start = at + INLINE_SOURCE_MAP.length;
  const end = code.indexOf("\n", start);
  const map = JSON.parse(
    Buffer.from(code.slice(start, end < 0 ? undefined : end), "base64").toString("utf8"),
  ) as { sources?: string[]; sourcesContent?: Array<string | null> };
  if (!Array.isArray(map.sources) || !Array.isArray(map.sourcesContent)) return code;
  // `sources` are relative to the bundle, which sits in the project root.
  map.sourcesContent = map.sources.map((source, i) =>
    own(source) ? (map.sourcesContent?.[i] ?? null) : null,
  );
  const encoded = Buffer.from(JSON.stringify(map), "utf8").toString("base64");
  return code.slice(0, start) + encoded + (end < 0 ? "" : code.slice(end));
}

function isBuildFailure(error: unknown): error is BuildFailure {
  return (
    error instanceof Error && Array.isArray((error as Partial<BuildFailure>).errors ?? undefined)
  );
}

/**
 * Bundles a flow and its npm imports into one CommonJS file. Deterministic: no timestamps, and
 * every path in the output is relative to the project root.
 *
 * @param sourceName how errors name the flow (usually the path relative to the cwd)
 */
export async function bundleFlow(entryAbs: string, sourceName: string): Promise<FlowBundle> {
  // Lazy (and `require`, which tsx, jest and bundlers all handle): esbuild takes tens of ms to
  // load and most CLI commands never bundle.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require("esbuild") as typeof import("esbuild");
  const projectRoot = findProjectRoot(entryAbs);
  const entry = toPosix(path.relative(projectRoot, entryAbs));
  const filename = path.join(projectRoot, BUNDLE_ENTRY);
  let messages: Message[] = [];
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      absWorkingDir: projectRoot,
      outfile: filename,
      write: false,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: BUNDLE_TARGET,
      external: [...HOST_MODULES],
      // `import("x")` becomes `require("x")`: the loader compiles bundles with `new Function`,
      // where a native dynamic import has no callback and throws.
      supported: { "dynamic-import": false },
      // Inline, so the bundle is one self-describing file and stack traces map back to the
      // user's lines (Node applies it once source maps are enabled; see loader.ts).
      // The map embeds the project's own sources (see withOwnSourcesContent), so a traceback
      // shows the author's lines wherever the artifact runs.
      sourcemap: "inline",
      sourcesContent: true,
      metafile: true,
      legalComments: "none",
      // Bundling may rename clashing functions; keep `fn.name` what the author wrote.
      keepNames: true,
      charset: "utf8",
      logLevel: "silent",
    });
    const output = result.outputFiles[0];
    if (output === undefined) {
      throw new FlowBuildError(sourceName, "esbuild produced no output");
    }
    const own = (file: string) =>
      !file.split("/").includes("node_modules") && !file.startsWith("..") && !file.includes(":");
    const sources = Object.keys(result.metafile.inputs)
      .filter(own)
      .sort()
      .map((file) => ({ path: file, text: readFileSync(path.join(projectRoot, file), "utf8") }));
    return { code: withOwnSourcesContent(output.text, own), filename, projectRoot, entry, sources };
  } catch (error) {
    if (!isBuildFailure(error)) throw error;
    messages = error.errors;
  }
  const formatted = await esbuild.formatMessages(messages, { kind: "error", color: false });
  throw new FlowBuildError(
    sourceName,
    `build failed with ${messages.length} error${messages.length === 1 ? "" : "s"}:\n` +
      formatted.join("").trimEnd(),
  );
}
