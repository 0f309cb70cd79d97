/**
 * Registration services: upload an artifact or package and record it, in the order that keeps
 * the table and the bucket consistent.
 *
 * Flows: the record is written FIRST (a conditional put carrying the sha256), then the bytes.
 * Of two concurrent registrations of one version with different bytes, the loser fails on the
 * conditional put and never uploads, so it cannot overwrite the winner's artifact. If the
 * upload fails after the put, registering the same bytes again completes it (the object is
 * re-uploaded when missing). The worker verifies the artifact's sha256 before running it, so a
 * mismatch can never run unexpected code. The key (`flows/<flow>/<version>/artifact.zip`, the
 * guide's contract) has no org: objects carry `x-amz-meta-org-id` and `x-amz-meta-sha256`, and
 * a registration that would replace another org's object is refused.
 */
import { unzipSync } from "fflate";
import { ArtifactError, ConflictError, ValidationError } from "../errors";
import type { FlowSpec } from "../sdk/types";
import { artifactKey, depPackageKey, type PackageFormat } from "../storage/keys";
import { sha256Hex } from "../hash";
import type { ObjectStore } from "../storage/object-store";
import { formatS3Uri } from "../storage/s3-uri";
import { isSemverVersion } from "./flows";
import type { Persistence } from "./persistence";
import type { DepPackageRecord, FlowRecord } from "./records";
import { validateFlowName, validateFlowVersion, validateOrgId, validateSlug } from "../identifiers";

export interface RegisterFlowOptions {
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly artifactBucket: string;
  readonly orgId: string;
  /** `flow_spec.json` of the artifact; its name and version are the flow's. */
  readonly spec: FlowSpec;
  /** The built artifact zip. */
  readonly artifact: Buffer;
  readonly description?: string;
  readonly now?: Date;
}

const MAX_SPEC_BYTES = 10 * 1024 * 1024;

/** Reads `flow_spec.json` from an artifact zip (only that entry is inflated). */
export function readArtifactSpec(artifact: Buffer): FlowSpec {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(artifact, {
      filter: (f) => f.name === "flow_spec.json" && f.originalSize <= MAX_SPEC_BYTES,
    });
  } catch (error) {
    throw new ArtifactError(`artifact is not a readable zip: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const raw = files["flow_spec.json"];
  if (!raw)
    throw new ArtifactError(
      "artifact has no flow_spec.json at its root; build it with `dagy build`",
    );
  try {
    return JSON.parse(Buffer.from(raw).toString("utf8")) as FlowSpec;
  } catch (error) {
    throw new ArtifactError("artifact's flow_spec.json is not valid JSON", { cause: error });
  }
}

export async function registerFlow(opts: RegisterFlowOptions): Promise<FlowRecord> {
  const { persistence, store, orgId, spec, artifact } = opts;
  validateOrgId(orgId);
  const flowName = validateFlowName(spec?.name, "spec.name");
  const version = validateFlowVersion(spec?.version, "spec.version");
  const inArtifact = readArtifactSpec(artifact);
  if (inArtifact.name !== flowName || inArtifact.version !== version) {
    throw new ArtifactError(
      `artifact's flow_spec.json is ${inArtifact.name} ${inArtifact.version}, but ${flowName} ${version} is being registered`,
    );
  }
  const sha = sha256Hex(artifact);
  const uri = formatS3Uri(opts.artifactBucket, artifactKey(flowName, version));
  const metadata = { "org-id": orgId, sha256: sha };

  const existing = await persistence.flows.get(orgId, flowName, version);
  if (existing) {
    if (existing.artifact_sha256 !== sha)
      throw conflict(flowName, version, existing.artifact_sha256);
    if (!(await store.exists(existing.artifact_s3_uri))) {
      await store.put(existing.artifact_s3_uri, artifact, {
        contentType: "application/zip",
        metadata,
      });
    }
    return existing;
  }

  const head = await store.head(uri);
  const owner = head?.metadata["org-id"];
  if (head && owner !== undefined && owner !== orgId) {
    throw new ConflictError(
      `${uri} already holds flow ${flowName} version ${version} of another organization; choose another flow name or version`,
    );
  }

  const record: FlowRecord = {
    org_id: orgId,
    flow_name: flowName,
    flow_version: version,
    spec: JSON.stringify(spec),
    artifact_s3_uri: uri,
    artifact_sha256: sha,
    is_semver: isSemverVersion(version),
    registered_at: (opts.now ?? new Date()).toISOString(),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
  };
  await persistence.flows.put(record);
  await store.put(uri, artifact, { contentType: "application/zip", metadata });
  return record;
}

function conflict(flowName: string, version: string, sha: string): ConflictError {
  return new ConflictError(
    `flow ${flowName} version ${version} is already registered with different content (sha256 ${sha}); register a new version`,
  );
}

export interface RegisterDepPackageOptions {
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly artifactBucket: string;
  readonly orgId: string;
  readonly slug: string;
  readonly version: string;
  readonly archive: Buffer;
  readonly format: PackageFormat;
  /** Other orgs that may use the package; `*` for all. */
  readonly sharedWith?: readonly string[];
  readonly now?: Date;
}

/**
 * Uploads a package to `dep-packages/<slug>.zip|.tar.gz` and records it with its sha256.
 * Ownership is checked (and claimed, conditionally) before the upload, so one org can never
 * replace another org's package bytes. Re-registering a slug you own replaces it.
 */
export async function registerDepPackage(
  opts: RegisterDepPackageOptions,
): Promise<DepPackageRecord> {
  const { persistence, store, orgId, slug, archive, format } = opts;
  validateOrgId(orgId);
  validateSlug(slug);
  validateFlowVersion(opts.version, "version");
  checkMagic(archive, format);
  await checkArchiveContents(archive, format);
  const uri = formatS3Uri(opts.artifactBucket, depPackageKey(slug, format));
  const existing = await persistence.depPackages.get(slug);
  if (existing && existing.org_id !== orgId) {
    throw new ConflictError(
      `dep package slug ${slug} is already registered by another organization; choose another slug`,
    );
  }
  const record: DepPackageRecord = {
    slug,
    org_id: orgId,
    package_s3_uri: uri,
    version: opts.version,
    sha256: sha256Hex(archive),
    ...(opts.sharedWith !== undefined ? { shared_with: [...opts.sharedWith] } : {}),
    created_at: existing?.created_at ?? (opts.now ?? new Date()).toISOString(),
  };
  await persistence.depPackages.put(record);
  await store.put(uri, archive, {
    contentType: format === "zip" ? "application/zip" : "application/gzip",
    metadata: { "org-id": orgId, sha256: record.sha256! },
  });
  return record;
}

/**
 * The extraction rules, applied before the package is stored: a package the worker would refuse
 * is refused when it is pushed, naming the entry. (The worker checks again when it extracts.)
 */
async function checkArchiveContents(archive: Buffer, format: PackageFormat): Promise<void> {
  // Loaded here, not at the top: only this call needs tar, and `require` (not import()) so
  // the CLI under tsx's CommonJS hook resolves it too.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { inspectArchive } = require("../storage/archive") as typeof import("../storage/archive");
  try {
    await inspectArchive(archive, format);
  } catch (error) {
    if (!(error instanceof ArtifactError)) throw error;
    throw new ValidationError(`archive refused: ${error.message}`, "archive");
  }
}

function checkMagic(archive: Buffer, format: PackageFormat): void {
  const ok =
    format === "zip"
      ? archive.length >= 4 && archive.readUInt32LE(0) === 0x04034b50
      : archive.length >= 2 && archive[0] === 0x1f && archive[1] === 0x8b;
  if (!ok) {
    throw new ValidationError(
      `archive is not a ${format === "zip" ? "zip file" : "gzip-compressed tar"} (format ${format})`,
      "archive",
    );
  }
}
