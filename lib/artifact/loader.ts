import Module from "node:module";
import * as path from "node:path";
import * as sdk from "../sdk";
import type { Dag } from "../sdk";
import { FlowBuildError } from "./errors";

export interface LoadFlowOptions {
  /**
   * Directories searched first for modules the bundle leaves external, each used like a
   * `NODE_PATH` entry: it directly contains package folders (as a `node_modules` folder does).
   * The worker passes the folders of extracted dependency packages here.
   */
  readonly extraNodePaths?: readonly string[];
  /** How error messages name the flow. Default: `filename`. */
  readonly sourceName?: string;
}

const INLINE_SOURCE_MAP = "//# sourceMappingURL=data:application/json;base64,";

/**
 * `new Function` puts two lines (`function anonymous(…` and `) {`) before the body (ECMAScript
 * CreateDynamicFunction), so the bundle's inline source map is shifted down by two lines to keep
 * stack traces on the author's lines.
 */
function shiftInlineSourceMap(code: string): string {
  const at = code.lastIndexOf(INLINE_SOURCE_MAP);
  if (at < 0) return code;
  const start = at + INLINE_SOURCE_MAP.length;
  const end = code.indexOf("\n", start);
  const encoded = code.slice(start, end < 0 ? undefined : end).trim();
  let map: { mappings?: unknown };
  try {
    map = JSON.parse(Buffer.from(encoded, "base64").toString("utf8")) as { mappings?: unknown };
  } catch {
    return code; // Not a map we understand: run the code, lose the line mapping.
  }
  if (typeof map.mappings !== "string") return code;
  const shifted = Buffer.from(JSON.stringify({ ...map, mappings: `;;${map.mappings}` })).toString(
    "base64",
  );
  return code.slice(0, start) + shifted + (end < 0 ? "" : code.slice(end));
}

type FlowRequire = (id: string) => unknown;

function createFlowRequire(filename: string, extraNodePaths: readonly string[]): FlowRequire {
  // A Module carrying the search path; `module.require` resolves bare names through `paths`.
  const resolver = new Module(filename);
  resolver.filename = filename;
  resolver.paths = [
    ...extraNodePaths.map((p) => path.resolve(p)),
    ...(require.resolve.paths("dagy-flow-dependency") ?? []),
  ];
  return (id: string): unknown => {
    if (id === "dagy") return sdk;
    // The host's S3 client (see HOST_MODULES in lib/bundler/bundle.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (id === "@aws-sdk/client-s3") return require("@aws-sdk/client-s3");
    if (id.startsWith("dagy/")) {
      throw new Error(`flows may import only "dagy" from the Dagy SDK, not "${id}"`);
    }
    return resolver.require(id);
  };
}

/** Runs a CommonJS bundle and returns its `module.exports`. */
function evaluateBundle(code: string, filename: string, require: FlowRequire): unknown {
  // Compiled with the caller's realm's Function (not vm/Module#_compile) so the flow's objects,
  // arrays and errors share prototypes with the SDK that inspects them — also under jest, whose
  // test realm is not Node's main one. `sourceURL` names the code in stack traces.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function(
    "exports",
    "require",
    "module",
    "__filename",
    "__dirname",
    `${shiftInlineSourceMap(code)}\n//# sourceURL=${filename}`,
  ) as (
    exports: unknown,
    require: FlowRequire,
    module: { exports: unknown },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} as unknown };
  factory.call(module.exports, module.exports, require, module, filename, path.dirname(filename));
  return module.exports;
}

let sourceMapsEnabled = false;

/**
 * Evaluates a flow bundle (CommonJS, as `dagy build` writes it) with "dagy" bound to this
 * process's SDK, and returns the one DAG it defines.
 *
 * @param filename how the code is named in stack traces (frames map through the inline source
 *   map to the sources, relative to this path's directory)
 * @throws FlowBuildError when loading throws or the bundle does not define exactly one DAG
 */
export function loadFlowBundle(code: string, filename: string, options: LoadFlowOptions = {}): Dag {
  const sourceName = options.sourceName ?? filename;
  if (!sourceMapsEnabled) {
    // Stack traces of failing tasks should name the author's file and line.
    process.setSourceMapsEnabled(true);
    sourceMapsEnabled = true;
  }
  const require = createFlowRequire(filename, options.extraNodePaths ?? []);
  let dags: Dag[];
  try {
    dags = sdk.collectDags(() => evaluateBundle(code, filename, require)).dags;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new FlowBuildError(sourceName, `loading the flow threw: ${message}`, { cause: error });
  }
  const [only, ...others] = dags;
  if (only === undefined) {
    throw new FlowBuildError(
      sourceName,
      "no DAG defined; a flow module must call dag(name, options, builder) exactly once",
    );
  }
  if (others.length > 0) {
    const names = dags.map((d) => `"${d.name}"`).join(", ");
    throw new FlowBuildError(
      sourceName,
      `defines ${dags.length} DAGs (${names}); a flow module must define exactly one — ` +
        "put each DAG in its own file",
    );
  }
  return only;
}
