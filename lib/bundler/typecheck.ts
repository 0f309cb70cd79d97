import * as path from "node:path";
import type * as TS from "typescript";
import { FlowBuildError } from "../artifact/errors";

/**
 * Compiler options used when no tsconfig.json is found above the flow: what `dagy init` writes,
 * so a lone flow file is checked as a scaffolded project would check it.
 */
export const DEFAULT_TYPECHECK_OPTIONS = {
  target: "ES2022",
  module: "preserve",
  moduleResolution: "bundler",
  lib: ["ES2022"],
  strict: true,
  skipLibCheck: true,
  esModuleInterop: true,
  resolveJsonModule: true,
  isolatedModules: true,
} as const;

export interface TypecheckResult {
  /** The tsconfig.json whose options were used, or undefined for the defaults above. */
  readonly configFile?: string;
  /** Files the program checked (the flow and everything it imports, outside node_modules). */
  readonly checkedFiles: number;
}

function formatHost(ts: typeof TS, cwd: string): TS.FormatDiagnosticsHost {
  return {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => cwd,
    getNewLine: () => "\n",
  };
}

/**
 * Type-checks a flow with TypeScript's compiler API, using the options of the nearest
 * tsconfig.json at or above the flow (its `files`/`include` are not used: the flow is the root,
 * and the program follows its imports). Emits nothing.
 *
 * @param sourceName how errors name the flow
 * @throws FlowBuildError with the compiler's messages when there are type errors, or the
 *   tsconfig.json cannot be read
 */
export function typecheckFlow(entryAbs: string, sourceName: string, cwd: string): TypecheckResult {
  // Lazy: the compiler takes ~200 ms to load and only `dagy build` needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require("typescript") as typeof TS;
  const host = formatHost(ts, cwd);
  const configFile = ts.findConfigFile(path.dirname(entryAbs), (f) => ts.sys.fileExists(f));
  let options: TS.CompilerOptions;
  if (configFile === undefined) {
    const converted = ts.convertCompilerOptionsFromJson(
      DEFAULT_TYPECHECK_OPTIONS,
      path.dirname(entryAbs),
    );
    options = converted.options;
  } else {
    const read = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
    if (read.error !== undefined) {
      throw new FlowBuildError(
        sourceName,
        `cannot read ${path.relative(cwd, configFile)}:\n` +
          ts.formatDiagnostics([read.error], host).trimEnd(),
      );
    }
    const parsed = ts.parseJsonConfigFileContent(
      read.config,
      ts.sys,
      path.dirname(configFile),
      undefined,
      configFile,
    );
    // "No inputs were found" (TS18003) concerns `include`, which a flow check does not use.
    const errors = parsed.errors.filter((d) => d.code !== 18003);
    if (errors.length > 0) {
      throw new FlowBuildError(
        sourceName,
        `invalid ${path.relative(cwd, configFile)}:\n` +
          ts.formatDiagnostics(errors, host).trimEnd(),
      );
    }
    options = parsed.options;
  }
  const program = ts.createProgram({
    rootNames: [entryAbs],
    options: {
      ...options,
      noEmit: true,
      // Incremental state is for the project's own tsc runs, not this one.
      incremental: false,
      composite: false,
    },
  });
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diagnostics.length > 0) {
    const n = diagnostics.length;
    throw new FlowBuildError(
      sourceName,
      `type check failed with ${n} error${n === 1 ? "" : "s"}` +
        ` (tsconfig: ${configFile === undefined ? "none found, defaults used" : path.relative(cwd, configFile) || configFile}; ` +
        "--no-typecheck skips this check):\n" +
        ts.formatDiagnostics(diagnostics, host).trimEnd(),
    );
  }
  const checkedFiles = program
    .getSourceFiles()
    .filter(
      (f) => !f.fileName.includes("/node_modules/") && !program.isSourceFileDefaultLibrary(f),
    ).length;
  return { ...(configFile === undefined ? {} : { configFile }), checkedFiles };
}
