/**
 * Dependency packages (upload, commit, list). Deployments (named sets of packages) are
 * ./deployments.ts, re-exported here. Packages are checked at commit with the same rules the worker applies when it
 * extracts them (in registerDepPackage), so a package that could never be installed is refused
 * when it is pushed.
 */
import type { Persistence } from "../persistence/persistence";
import type { DepPackageRecord } from "../persistence/records";
import { registerDepPackage } from "../persistence/registry";
import { validateFlowVersion, validateSlug } from "../persistence/validate";
import type { PackageFormat } from "../storage/keys";
import type { ObjectStore } from "../storage/object-store";
import type { PresignedUpload, UploadStore } from "../storage/uploads";
import { ValidationError } from "../errors";
import { requiredOrg, type Caller } from "./caller";
import { checkUploadRequest, readStagedUpload, type UploadRequest } from "./flows";

export { DeploymentsService } from "./deployments";

/** Largest package accepted (compressed). */
export const MAX_PACKAGE_BYTES = 512 * 1024 * 1024;

export const PACKAGE_FORMATS: readonly PackageFormat[] = ["zip", "tar.gz"];

export interface PackagesServiceDeps {
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly uploads: UploadStore;
  readonly artifactBucket: string;
  readonly clock?: () => Date;
}

function checkFormat(format: unknown): PackageFormat {
  if (!PACKAGE_FORMATS.includes(format as PackageFormat)) {
    throw new ValidationError(`format: must be one of ${PACKAGE_FORMATS.join(", ")}`, "format");
  }
  return format as PackageFormat;
}

export class PackagesService {
  constructor(private readonly deps: PackagesServiceDeps) {}

  async createUpload(
    caller: Caller,
    input: UploadRequest & {
      readonly name: string;
      readonly version: string;
      readonly format: string;
    },
  ): Promise<PresignedUpload> {
    const orgId = requiredOrg(caller, input.orgId);
    validateSlug(input.name, "name");
    validateFlowVersion(input.version, "version");
    checkFormat(input.format);
    checkUploadRequest(input, MAX_PACKAGE_BYTES);
    return this.deps.uploads.presignPut(orgId, input.sha256, input.size);
  }

  async commit(
    caller: Caller,
    input: {
      readonly orgId?: string;
      readonly name: string;
      readonly version: string;
      readonly format: string;
      readonly uploadId: string;
      readonly sharedWith?: readonly string[];
    },
  ): Promise<DepPackageRecord> {
    const orgId = requiredOrg(caller, input.orgId);
    validateSlug(input.name, "name");
    validateFlowVersion(input.version, "version");
    const format = checkFormat(input.format);
    const uri = this.deps.uploads.uri(orgId, input.uploadId);
    const archive = await readStagedUpload(this.deps.store, uri, { maxBytes: MAX_PACKAGE_BYTES });
    // registerDepPackage inspects the archive (lib/storage/archive.ts inspectArchive) with the
    // worker's extraction rules before anything is stored.
    const record = await registerDepPackage({
      persistence: this.deps.persistence,
      store: this.deps.store,
      artifactBucket: this.deps.artifactBucket,
      orgId,
      slug: input.name,
      version: input.version,
      archive,
      format,
      ...(input.sharedWith !== undefined ? { sharedWith: input.sharedWith } : {}),
      ...(this.deps.clock ? { now: this.deps.clock() } : {}),
    });
    await this.deps.store.delete(uri);
    return record;
  }

  list(caller: Caller, requestedOrgId?: string): Promise<DepPackageRecord[]> {
    return this.deps.persistence.depPackages.listForOrg(requiredOrg(caller, requestedOrgId));
  }
}
