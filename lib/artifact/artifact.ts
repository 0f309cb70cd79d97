import { unzipSync, zipSync, type UnzipFileInfo, type Zippable } from "fflate";
import { ArtifactError } from "../errors";
import { sha256Hex } from "../hash";
import { SDK_VERSION, type Dag } from "../sdk";
import type { ArtifactMetadata, FlowSpec } from "../sdk/types";
import { stableStringify } from "./json";
import { loadFlowBundle, type LoadFlowOptions } from "./loader";

/** Name of the bundle inside an artifact. */
export const BUNDLE_ENTRY = "flow.js";
export const SPEC_ENTRY = "flow_spec.json";
export const METADATA_ENTRY = "metadata.json";
/** Folder of the flow's source files inside an artifact, by their path in the project. */
export const SOURCES_DIR = "src/";

/** Upper bounds checked before inflating anything, so a hostile zip cannot exhaust memory. */
export const ARTIFACT_LIMITS = {
  jsonBytes: 16 * 1024 * 1024,
  bundleBytes: 256 * 1024 * 1024,
} as const;

/**
 * Every entry gets this modification time, so the zip carries no build clock. Built from local
 * components because zip (DOS) timestamps are local time: 1980-01-01 00:00 in every time zone.
 */
const FIXED_ENTRY_MTIME = new Date(1980, 0, 1, 0, 0, 0);

export interface ArtifactContents {
  readonly spec: FlowSpec;
  readonly metadata: ArtifactMetadata;
  /** Names of all entries in the zip. */
  readonly entries: readonly string[];
}

export interface LoadedArtifact extends ArtifactContents {
  readonly dag: Dag;
  readonly bundle: string;
}

function majorVersion(version: string): number | undefined {
  const match = /^v?(\d+)\./.exec(version);
  return match ? Number(match[1]) : undefined;
}

/**
 * Zips spec, metadata, bundle and the flow's source files (under `src/`, by their path relative
 * to the project root) in a fixed order with fixed timestamps: same input, same bytes.
 */
export function packArtifact(
  spec: FlowSpec,
  metadata: ArtifactMetadata,
  bundle: Uint8Array,
  sources: ReadonlyArray<{ readonly path: string; readonly text: string }> = [],
): Buffer {
  const entry = (data: Uint8Array): Zippable[string] => [data, { mtime: FIXED_ENTRY_MTIME }];
  // Entry order is fixed: the JSON first, so tools listing the zip show the spec on top.
  const files: Zippable = {
    [SPEC_ENTRY]: entry(Buffer.from(stableStringify(spec), "utf8")),
    [METADATA_ENTRY]: entry(Buffer.from(stableStringify(metadata), "utf8")),
    [metadata.entry]: entry(bundle),
  };
  for (const source of [...sources].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
  )) {
    files[`${SOURCES_DIR}${source.path}`] = entry(Buffer.from(source.text, "utf8"));
  }
  return Buffer.from(zipSync(files, { level: 6 }));
}

function unpack(
  zip: Uint8Array,
  wanted: (name: string) => boolean,
): {
  files: Record<string, Uint8Array>;
  entries: string[];
} {
  const entries: string[] = [];
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, {
      filter: (file: UnzipFileInfo) => {
        entries.push(file.name);
        if (!wanted(file.name)) return false;
        const limit = file.name.endsWith(".json")
          ? ARTIFACT_LIMITS.jsonBytes
          : ARTIFACT_LIMITS.bundleBytes;
        if (file.originalSize > limit) {
          throw new ArtifactError(
            `artifact entry ${file.name} is ${file.originalSize} bytes; the limit is ${limit}`,
          );
        }
        return true;
      },
    });
  } catch (error) {
    if (error instanceof ArtifactError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ArtifactError(`artifact is not a readable zip archive (${reason})`, {
      cause: error,
    });
  }
  return { files, entries };
}

function parseJsonEntry(files: Record<string, Uint8Array>, name: string): unknown {
  const bytes = files[name];
  if (bytes === undefined) {
    throw new ArtifactError(`artifact has no ${name}; is it a file written by dagy build?`);
  }
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (error) {
    throw new ArtifactError(`artifact ${name} is not valid JSON`, { cause: error });
  }
}

/*
 * Fast acceptance checks for the two JSON files. They accept only what the zod schemas in
 * ./schema accept (never more), so a file they pass is valid as is; anything else goes to the
 * schemas, which decide and word the error. Every artifact a worker loads passed registration,
 * so the worker never needs zod: loading it and building the schemas cost a cold start ~25 ms.
 * JSON.parse output is all they see, so numbers are finite and every value is JSON.
 */
type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isNonNegative(value: unknown): boolean {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

const PARAMETER_TYPES: ReadonlySet<unknown> = new Set([
  "string",
  "number",
  "integer",
  "boolean",
  "object",
  "array",
]);

function isTaskSpec(value: unknown): boolean {
  if (!isObject(value)) return false;
  const { id, task, upstream, options } = value;
  if (!isNonEmptyString(id) || !isNonEmptyString(task)) return false;
  if (!Array.isArray(upstream) || !upstream.every((u) => typeof u === "string")) return false;
  if (!isObject(options)) return false;
  const timeout = options.timeout_ms;
  return (
    isCount(options.retries) &&
    isNonNegative(options.retry_delay_ms) &&
    isNonNegative(options.backoff_factor) &&
    isNonNegative(options.max_retry_delay_ms) &&
    (timeout === undefined ||
      (typeof timeout === "number" && Number.isFinite(timeout) && timeout > 0))
  );
}

function isParameterSpec(value: unknown): boolean {
  if (!isObject(value)) return false;
  return (
    typeof value.required === "boolean" &&
    (value.type === undefined || PARAMETER_TYPES.has(value.type)) &&
    (value.description === undefined || typeof value.description === "string")
  );
}

function isPlainFlowSpec(value: unknown): value is FlowSpec {
  if (!isObject(value)) return false;
  const { spec_version, name, version, description, parameters, max_parallelism, tags } = value;
  const { tasks, edges } = value;
  if (spec_version !== 1 || !isNonEmptyString(name) || !isNonEmptyString(version)) return false;
  if (description !== undefined && typeof description !== "string") return false;
  if (!isObject(parameters) || !Object.values(parameters).every(isParameterSpec)) return false;
  if (
    max_parallelism !== undefined &&
    !(
      typeof max_parallelism === "number" &&
      Number.isSafeInteger(max_parallelism) &&
      max_parallelism > 0
    )
  ) {
    return false;
  }
  if (
    tags !== undefined &&
    !(isObject(tags) && Object.values(tags).every((t) => typeof t === "string"))
  ) {
    return false;
  }
  if (!Array.isArray(tasks) || !tasks.every(isTaskSpec)) return false;
  if (
    !Array.isArray(edges) ||
    !edges.every(
      (e) =>
        Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && typeof e[1] === "string",
    )
  ) {
    return false;
  }
  // The schema's refinement: unique task ids, and every upstream id names a task.
  const ids = new Set((tasks as { id: string }[]).map((t) => t.id));
  return (
    ids.size === tasks.length &&
    (tasks as { upstream: string[] }[]).every((t) => t.upstream.every((u) => ids.has(u)))
  );
}

function isPlainArtifactMetadata(value: unknown): value is ArtifactMetadata {
  if (!isObject(value)) return false;
  return (
    isNonEmptyString(value.name) &&
    isNonEmptyString(value.version) &&
    isNonEmptyString(value.built_at) &&
    isNonEmptyString(value.sdk_version) &&
    typeof value.bundle_sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(value.bundle_sha256) &&
    isNonEmptyString(value.entry) &&
    typeof value.source === "string"
  );
}

/** The zod schemas, loaded only for a file the fast checks refused (and for its message). */
function validateWithSchema<T>(
  which: "flowSpecSchema" | "artifactMetadataSchema",
  entry: string,
  value: unknown,
): T {
  // Lazy: zod takes a noticeable share of CLI and worker start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const schemas = require("./schema") as typeof import("./schema");
  const result = schemas[which].safeParse(value);
  if (!result.success) {
    throw new ArtifactError(`artifact ${entry} is invalid: ${schemas.formatIssues(result.error)}`);
  }
  return result.data as T;
}

function readContents(
  zip: Uint8Array,
  alsoWanted: (name: string) => boolean,
): ArtifactContents & { files: Record<string, Uint8Array> } {
  const { files, entries } = unpack(
    zip,
    (name) => name === SPEC_ENTRY || name === METADATA_ENTRY || alsoWanted(name),
  );
  const rawSpec = parseJsonEntry(files, SPEC_ENTRY);
  const spec = {
    data: isPlainFlowSpec(rawSpec)
      ? rawSpec
      : validateWithSchema<FlowSpec>("flowSpecSchema", SPEC_ENTRY, rawSpec),
  };
  const rawMetadata = parseJsonEntry(files, METADATA_ENTRY);
  const metadata = {
    data: isPlainArtifactMetadata(rawMetadata)
      ? rawMetadata
      : validateWithSchema<ArtifactMetadata>("artifactMetadataSchema", METADATA_ENTRY, rawMetadata),
  };
  if (spec.data.name !== metadata.data.name || spec.data.version !== metadata.data.version) {
    throw new ArtifactError(
      `artifact is inconsistent: ${SPEC_ENTRY} says ${spec.data.name}@${spec.data.version}, ` +
        `${METADATA_ENTRY} says ${metadata.data.name}@${metadata.data.version}`,
    );
  }
  return { spec: spec.data, metadata: metadata.data, entries, files };
}

/**
 * Reads and validates `flow_spec.json` and `metadata.json` of an artifact without running any of
 * its code (registration uses this on uploads).
 *
 * @throws ArtifactError when the zip, either file, or their agreement is invalid
 */
export function readArtifact(zip: Uint8Array): ArtifactContents {
  const { spec, metadata, entries } = readContents(zip, () => false);
  return { spec, metadata, entries };
}

export interface LoadArtifactOptions extends Pick<LoadFlowOptions, "extraNodePaths"> {
  /** Name of the bundle in stack traces. Default: `/dagy/<name>@<version>/flow.js`. */
  readonly filename?: string;
}

/**
 * Verifies an artifact (bundle sha256 against metadata, SDK major version) and loads its DAG
 * with this process's SDK.
 *
 * @throws ArtifactError when verification fails
 * @throws FlowBuildError when the bundle throws while loading or defines other than one DAG
 */
export function loadArtifact(zip: Uint8Array, options: LoadArtifactOptions = {}): LoadedArtifact {
  const { spec, metadata, entries, files } = readContents(
    zip,
    (name) => name.endsWith(".js") && !name.startsWith(SOURCES_DIR),
  );
  const bundleEntry = metadata.entry;
  const bytes = files[bundleEntry];
  if (bytes === undefined) {
    throw new ArtifactError(`artifact has no ${bundleEntry} (the entry metadata.json names)`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== metadata.bundle_sha256) {
    throw new ArtifactError(
      `artifact ${bundleEntry} does not match metadata.json: sha256 is ${actual}, ` +
        `expected ${metadata.bundle_sha256}; the artifact was modified or corrupted`,
    );
  }
  const built = majorVersion(metadata.sdk_version);
  const host = majorVersion(SDK_VERSION);
  if (built !== undefined && host !== undefined && built !== host) {
    throw new ArtifactError(
      `artifact was built with SDK ${metadata.sdk_version}, which is incompatible with this ` +
        `worker's SDK ${SDK_VERSION} (major versions differ); rebuild it with this dagy`,
    );
  }
  const bundle = Buffer.from(bytes).toString("utf8");
  const filename = options.filename ?? `/dagy/${spec.name}@${spec.version}/${bundleEntry}`;
  const dag = loadFlowBundle(bundle, filename, {
    sourceName: `${metadata.source} (artifact ${spec.name}@${spec.version})`,
    ...(options.extraNodePaths ? { extraNodePaths: options.extraNodePaths } : {}),
  });
  if (dag.name !== spec.name) {
    throw new ArtifactError(
      `artifact is inconsistent: its bundle defines DAG "${dag.name}" but ${SPEC_ENTRY} names ` +
        `"${spec.name}"`,
    );
  }
  return { spec, metadata, entries, dag, bundle };
}
