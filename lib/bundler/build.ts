import { mkdir, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { BUNDLE_ENTRY, packArtifact } from "../artifact/artifact";
import { loadFlowBundle } from "../artifact/loader";
import { ValidationError } from "../errors";
import { sha256Hex } from "../hash";
import { SDK_VERSION } from "../sdk";
import { VERSION_PATTERN } from "../sdk/options";
import type { ArtifactMetadata, FlowSpec } from "../sdk/types";
import { bundleFlow, resolveEntry, toPosix } from "./bundle";
import { typecheckFlow, type TypecheckResult } from "./typecheck";

export interface BuildFlowOptions {
  /** The flow's source file (TypeScript or JavaScript), relative to `cwd` or absolute. */
  readonly entry: string;
  /**
   * Overrides the version the DAG declares, in `flow_spec.json` and `metadata.json` (the bundle
   * itself is unchanged). Registration and launches use the artifact's version.
   */
  readonly version?: string;
  /** Where to write the artifact; nothing is written without it. Relative to `cwd`. */
  readonly outFile?: string;
  /** Base of relative paths and of `metadata.source`. Default: `process.cwd()`. */
  readonly cwd?: string;
  /** Stamped into `metadata.built_at`. Default: now. Pass a fixed date for a byte-identical zip. */
  readonly builtAt?: Date;
  /**
   * Type-check the flow first with the project's tsconfig.json (see `typecheckFlow`) and refuse
   * type errors. Default false: `dagy build` turns it on; the local platform's start-up does not.
   */
  readonly typecheck?: boolean;
}

export interface BuildFlowResult {
  /** The artifact zip. */
  readonly artifact: Buffer;
  readonly spec: FlowSpec;
  readonly metadata: ArtifactMetadata;
  /** The bundle (`flow.js`). */
  readonly bundle: string;
  /** The project files the artifact carries under `src/`, relative to the project root. */
  readonly sources: readonly string[];
  /** Set when the flow was type-checked: the tsconfig.json used, if one was found. */
  readonly typecheck?: TypecheckResult;
  /** Absolute path of the written artifact, when `outFile` was given. */
  readonly path?: string;
}

function validateVersion(version: string): void {
  if (!VERSION_PATTERN.test(version)) {
    throw new ValidationError(
      `invalid version ${JSON.stringify(version)}: versions are 1-128 characters of ` +
        "A-Z a-z 0-9 . _ + - and start with a letter or digit (e.g. 1.0.0)",
      "version",
    );
  }
}

/**
 * Builds a flow artifact: optionally type-checks the flow, bundles it (esbuild, its npm imports
 * inlined, "dagy" left to the host), loads the bundle to derive `flow_spec.json`, and zips spec,
 * metadata, bundle and the flow's source files.
 * The same source and version always give the same `flow_spec.json` and bundle bytes; only
 * `metadata.built_at` varies (see `builtAt`).
 *
 * @throws ValidationError when the entry is missing or `version` is malformed
 * @throws FlowBuildError on build errors, load-time exceptions, or not exactly one DAG
 */
export async function buildFlow(options: BuildFlowOptions): Promise<BuildFlowResult> {
  const cwd = options.cwd ?? process.cwd();
  if (options.version !== undefined) validateVersion(options.version);
  const entryAbs = resolveEntry(options.entry, cwd);
  const source = toPosix(path.relative(cwd, entryAbs));
  const typecheck = options.typecheck === true ? typecheckFlow(entryAbs, source, cwd) : undefined;
  const bundle = await bundleFlow(entryAbs, source);
  const dag = loadFlowBundle(bundle.code, bundle.filename, { sourceName: source });

  const declared = dag.toSpec();
  const spec: FlowSpec =
    options.version === undefined ? declared : { ...declared, version: options.version };
  const bundleBytes = Buffer.from(bundle.code, "utf8");
  const metadata: ArtifactMetadata = {
    name: spec.name,
    version: spec.version,
    built_at: (options.builtAt ?? new Date()).toISOString(),
    sdk_version: SDK_VERSION,
    bundle_sha256: sha256Hex(bundleBytes),
    entry: BUNDLE_ENTRY,
    source,
  };
  const artifact = packArtifact(spec, metadata, bundleBytes, bundle.sources);

  let written: string | undefined;
  if (options.outFile !== undefined) {
    written = path.resolve(cwd, options.outFile);
    await mkdir(path.dirname(written), { recursive: true });
    await writeFile(written, artifact);
  }
  return {
    artifact,
    spec,
    metadata,
    bundle: bundle.code,
    sources: bundle.sources.map((s) => s.path),
    ...(typecheck ? { typecheck } : {}),
    ...(written ? { path: written } : {}),
  };
}
