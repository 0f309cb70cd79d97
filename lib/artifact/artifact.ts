import { unzipSync, zipSync, type UnzipFileInfo, type Zippable } from "fflate";
import { ArtifactError } from "../errors";
import { sha256Hex } from "../hash";
import type * as z from "zod";
import { SDK_VERSION, type Dag } from "../sdk";
import type { ArtifactMetadata, FlowSpec } from "../sdk/types";
import { stableStringify } from "./json";
import { loadFlowBundle, type LoadFlowOptions } from "./loader";
import { artifactMetadataSchema, flowSpecSchema, formatIssues } from "./schema";

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

/** Validates one of the artifact's JSON files with its schema; the message names the path. */
function validateEntry<T>(schema: z.ZodType<T>, entry: string, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ArtifactError(`artifact ${entry} is invalid: ${formatIssues(result.error)}`);
  }
  return result.data;
}

function readContents(
  zip: Uint8Array,
  alsoWanted: (name: string) => boolean,
): ArtifactContents & { files: Record<string, Uint8Array> } {
  const { files, entries } = unpack(
    zip,
    (name) => name === SPEC_ENTRY || name === METADATA_ENTRY || alsoWanted(name),
  );
  const spec: FlowSpec = validateEntry(
    flowSpecSchema,
    SPEC_ENTRY,
    parseJsonEntry(files, SPEC_ENTRY),
  );
  const metadata: ArtifactMetadata = validateEntry(
    artifactMetadataSchema,
    METADATA_ENTRY,
    parseJsonEntry(files, METADATA_ENTRY),
  );
  if (spec.name !== metadata.name || spec.version !== metadata.version) {
    throw new ArtifactError(
      `artifact is inconsistent: ${SPEC_ENTRY} says ${spec.name}@${spec.version}, ` +
        `${METADATA_ENTRY} says ${metadata.name}@${metadata.version}`,
    );
  }
  return { spec, metadata, entries, files };
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

/** An artifact read and verified, its bundle not yet run (see openArtifact). */
export interface OpenedArtifact extends ArtifactContents {
  readonly bundle: string;
}

/**
 * Verifies an artifact and loads its DAG with this process's SDK: `openArtifact`, then
 * `evaluateArtifact`.
 *
 * @throws ArtifactError when verification fails
 * @throws FlowBuildError when the bundle throws while loading or defines other than one DAG
 */
export function loadArtifact(zip: Uint8Array, options: LoadArtifactOptions = {}): LoadedArtifact {
  return evaluateArtifact(openArtifact(zip), options);
}

/**
 * Reads and verifies an artifact (its JSON files, bundle sha256 against metadata, SDK major
 * version) without running any of its code: a warm worker does this while it waits.
 *
 * @throws ArtifactError when verification fails
 */
export function openArtifact(zip: Uint8Array): OpenedArtifact {
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
  return { spec, metadata, entries, bundle: Buffer.from(bytes).toString("utf8") };
}

/**
 * Runs an opened artifact's bundle with this process's SDK and returns its DAG.
 *
 * @throws ArtifactError when the bundle's DAG is not the one the spec names
 * @throws FlowBuildError when the bundle throws while loading or defines other than one DAG
 */
export function evaluateArtifact(
  opened: OpenedArtifact,
  options: LoadArtifactOptions = {},
): LoadedArtifact {
  const { spec, metadata, entries, bundle } = opened;
  const bundleEntry = metadata.entry;
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
