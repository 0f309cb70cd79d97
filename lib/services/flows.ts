/**
 * Flows: register a version (presigned upload, then commit). Reading flows is the catalog's
 * (./flow-catalog.ts), which this service extends, so one object serves every flow route.
 */
import { ArtifactError, ConflictError, PayloadTooLargeError, ValidationError } from "../errors";
import type { Persistence } from "../persistence/persistence";
import type { FlowRecord } from "../persistence/records";
import { readArtifactSpec, registerFlow } from "../persistence/registry";
import { validateFlowName, validateFlowVersion } from "../persistence/validate";
import { sha256Hex } from "../hash";
import type { ObjectStore } from "../storage/object-store";
import type { PresignedUpload, UploadStore } from "../storage/uploads";
import { requiredOrg, type Caller } from "./caller";
import { FlowCatalog } from "./flow-catalog";

export type { FlowVersionDetail } from "./flow-catalog";

/** Largest artifact accepted (a flow's bundle and sources, zipped). */
export const MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface UploadRequest {
  readonly orgId?: string;
  readonly sha256: string;
  readonly size: number;
}

export function checkUploadRequest(input: UploadRequest, maxBytes: number): void {
  if (typeof input.sha256 !== "string" || !SHA256_HEX.test(input.sha256)) {
    throw new ValidationError("sha256: must be 64 lower-case hex digits", "sha256");
  }
  if (!Number.isSafeInteger(input.size) || input.size < 1) {
    throw new ValidationError("size: must be a positive whole number of bytes", "size");
  }
  if (input.size > maxBytes) {
    throw new PayloadTooLargeError(`size: ${input.size} bytes is over the ${maxBytes}-byte limit`);
  }
}

/** Reads a staged upload and checks it is the announced bytes. */
export async function readStagedUpload(
  store: Pick<ObjectStore, "get" | "exists">,
  uri: string,
  expected: { readonly sha256?: string; readonly maxBytes: number },
): Promise<Buffer> {
  if (!(await store.exists(uri))) {
    throw new ValidationError(
      "upload_id: nothing was uploaded under this id (expired, or the PUT failed)",
      "upload_id",
    );
  }
  const bytes = await store.get(uri);
  if (bytes.length > expected.maxBytes) {
    throw new PayloadTooLargeError(`upload: over the ${expected.maxBytes}-byte limit`);
  }
  if (expected.sha256 !== undefined && sha256Hex(bytes) !== expected.sha256) {
    throw new ArtifactError("upload: the uploaded bytes do not match the announced sha256");
  }
  return bytes;
}

export interface FlowsServiceDeps {
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly uploads: UploadStore;
  readonly artifactBucket: string;
  readonly clock?: () => Date;
}

/** Registers flow versions; reads them as the catalog does (./flow-catalog.ts). */
export class FlowsService extends FlowCatalog {
  constructor(private readonly deps: FlowsServiceDeps) {
    super(deps.persistence);
  }

  /** Step 1 of registering: where to PUT the artifact. */
  async createUpload(
    caller: Caller,
    flowName: string,
    input: UploadRequest & { readonly version: string },
  ): Promise<PresignedUpload> {
    const orgId = requiredOrg(caller, input.orgId);
    validateFlowName(flowName, "flow_name");
    validateFlowVersion(input.version, "version");
    checkUploadRequest(input, MAX_ARTIFACT_BYTES);
    const existing = await this.deps.persistence.flows.get(orgId, flowName, input.version);
    if (existing && existing.artifact_sha256 !== input.sha256) {
      throw conflictingVersion(flowName, input.version, existing.artifact_sha256);
    }
    return this.deps.uploads.presignPut(orgId, input.sha256, input.size);
  }

  /** Step 2: reads the staged artifact, checks it, records the version. Same bytes: a no-op. */
  async commitVersion(
    caller: Caller,
    flowName: string,
    input: {
      readonly orgId?: string;
      readonly version: string;
      readonly uploadId: string;
      readonly description?: string;
    },
  ): Promise<FlowRecord> {
    const orgId = requiredOrg(caller, input.orgId);
    validateFlowName(flowName, "flow_name");
    validateFlowVersion(input.version, "version");
    const uri = this.deps.uploads.uri(orgId, input.uploadId);
    const artifact = await readStagedUpload(this.deps.store, uri, { maxBytes: MAX_ARTIFACT_BYTES });
    const spec = readArtifactSpec(artifact);
    if (spec.name !== flowName || spec.version !== input.version) {
      throw new ArtifactError(
        `artifact's flow_spec.json is ${String(spec.name)} ${String(spec.version)}, but ${flowName} ${input.version} is being registered`,
      );
    }
    const record = await registerFlow({
      persistence: this.deps.persistence,
      store: this.deps.store,
      artifactBucket: this.deps.artifactBucket,
      orgId,
      spec,
      artifact,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(this.deps.clock ? { now: this.deps.clock() } : {}),
    });
    await this.deps.store.delete(uri);
    return record;
  }
}

function conflictingVersion(flowName: string, version: string, sha: string): ConflictError {
  return new ConflictError(
    `flow ${flowName} version ${version} is already registered with different content (sha256 ${sha}); register a new version`,
  );
}
