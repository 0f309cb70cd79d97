/**
 * The guide's ActiveRecord-style models, in TypeScript:
 *
 *   await new DeploymentModel({ deployment_name: "production", environment: "production",
 *     dep_package_slugs: ["my-deps"], org_id: "acme-corp" }).save();
 *   const run = await RunModel.get(runId);   // run.status, run.started_at, run.error_message
 *
 * They are thin wrappers over the repositories of a default Persistence: the one given to
 * `configurePersistence`, or else one built on first use from the environment
 * (DAGY_FLOWS_TABLE, DAGY_RUNS_TABLE, DAGY_DEPLOYMENTS_TABLE, DAGY_DEP_PACKAGES_TABLE,
 * optional AWS_REGION, DAGY_DYNAMODB_ENDPOINT, DAGY_S3_ENDPOINT).
 */
import { createDataClients } from "../aws/clients";
import { PLATFORM_ENV } from "../config/env";
import { ConfigurationError, NotFoundError, RunNotFoundError } from "../errors";
import type { FlowSpec } from "../sdk/types";
import { sha256Hex } from "../hash";
import { ObjectStore } from "../storage/object-store";
import { isSemverVersion, LATEST } from "./flows";
import { Persistence } from "./persistence";
import type { DeploymentRecord, DepPackageRecord, FlowRecord, RunRecord } from "./records";
import type { TableNames } from "./schema";

interface ModelContext {
  persistence: Persistence;
  /** Needed only by FlowModel.save() without artifact_sha256. */
  store?: ObjectStore;
}

let configured: ModelContext | undefined;

/** Sets the Persistence (and optionally the ObjectStore) the models use; undefined resets. */
export function configurePersistence(
  persistence: Persistence | undefined,
  store?: ObjectStore,
): void {
  configured = persistence ? { persistence, ...(store ? { store } : {}) } : undefined;
}

/** Builds a Persistence and an ObjectStore from DAGY_* variables (ConfigurationError naming a missing one). */
export function persistenceFromEnv(env: NodeJS.ProcessEnv = process.env): {
  persistence: Persistence;
  store: ObjectStore;
} {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value.trim() === "") {
      throw new ConfigurationError(
        `${name} is not set: the models need the table names (stack outputs), or call configurePersistence() first`,
      );
    }
    return value.trim();
  };
  const tables: TableNames = {
    flows: required(PLATFORM_ENV.flowsTable),
    runs: required(PLATFORM_ENV.runsTable),
    deployments: required(PLATFORM_ENV.deploymentsTable),
    depPackages: required(PLATFORM_ENV.depPackagesTable),
  };
  const optional = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const region = optional(PLATFORM_ENV.region);
  const dynamodbEndpoint = optional(PLATFORM_ENV.dynamodbEndpoint);
  const s3Endpoint = optional(PLATFORM_ENV.s3Endpoint);
  const clients = createDataClients({
    ...(region ? { region } : {}),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    ...(s3Endpoint ? { s3Endpoint } : {}),
  });
  return { persistence: new Persistence(clients.doc, tables), store: new ObjectStore(clients.s3) };
}

function context(): ModelContext {
  configured ??= persistenceFromEnv();
  return configured;
}

/** The Persistence the models use (configured, or built from the environment). */
export function defaultPersistence(): Persistence {
  return context().persistence;
}

/** A class whose instances carry the given record fields as properties. */
function recordBase<T extends object>(): new (fields: T) => T {
  return class {
    constructor(fields: T) {
      Object.assign(this, fields);
    }
  } as unknown as new (fields: T) => T;
}

/** Own enumerable properties: the record fields of a model instance. */
function fieldsOf<T>(model: object): T {
  return { ...model } as T;
}

export type FlowModelFields = Omit<
  FlowRecord,
  "spec" | "artifact_sha256" | "is_semver" | "registered_at"
> & {
  /** flow_spec.json as a JSON string (the guide's `json.dumps(flow_spec)`) or as an object. */
  spec: string | FlowSpec;
  /** Computed from the artifact in S3 when omitted (as in the guide's snippet). */
  artifact_sha256?: string;
  is_semver?: boolean;
  registered_at?: string;
};

export class FlowModel extends recordBase<FlowModelFields>() {
  /** Registers the version (immutable: same version with other bytes is a ConflictError). */
  async save(): Promise<void> {
    const ctx = context();
    if (this.artifact_sha256 === undefined) {
      if (!ctx.store) {
        throw new ConfigurationError(
          "FlowModel.save() without artifact_sha256 reads the artifact from S3: pass an ObjectStore to configurePersistence()",
        );
      }
      try {
        this.artifact_sha256 = sha256Hex(await ctx.store.get(this.artifact_s3_uri));
      } catch (error) {
        if (error instanceof NotFoundError) {
          throw new NotFoundError(
            `${error.message}: upload the artifact before registering the flow`,
            {
              cause: error,
            },
          );
        }
        throw error;
      }
    }
    this.is_semver = isSemverVersion(this.flow_version);
    this.registered_at ??= new Date().toISOString();
    if (typeof this.spec !== "string") this.spec = JSON.stringify(this.spec);
    await ctx.persistence.flows.put(fieldsOf<FlowRecord>(this));
  }

  static async get(
    orgId: string,
    flowName: string,
    version: string,
  ): Promise<FlowModel | undefined> {
    const record = await context().persistence.flows.get(orgId, flowName, version);
    return record ? new FlowModel(record) : undefined;
  }

  /** An exact version or `latest` (highest release); FlowNotFoundError otherwise. */
  static async resolve(
    orgId: string,
    flowName: string,
    version: string = LATEST,
  ): Promise<FlowModel> {
    return new FlowModel(await context().persistence.flows.resolve(orgId, flowName, version));
  }
}

export class RunModel extends recordBase<RunRecord>() {
  /** Creates the run (ConflictError if the id exists). */
  async save(): Promise<void> {
    await context().persistence.runs.create(fieldsOf<RunRecord>(this));
  }

  /** The run; RunNotFoundError when there is none (the guide's `RunModel.get(run_id)`). */
  static async get(runId: string): Promise<RunModel> {
    const record = await context().persistence.runs.get(runId);
    if (!record) throw new RunNotFoundError(runId);
    return new RunModel(record);
  }
}

export type DeploymentModelFields = Omit<DeploymentRecord, "updated_at"> & { updated_at?: string };

export class DeploymentModel extends recordBase<DeploymentModelFields>() {
  /** Creates or replaces it, after checking every package exists and may be used by the org. */
  async save(): Promise<void> {
    const { persistence } = context();
    this.updated_at = new Date().toISOString();
    await persistence.deployments.put(fieldsOf<DeploymentRecord>(this), persistence.depPackages);
  }

  static async get(orgId: string, deploymentName: string): Promise<DeploymentModel | undefined> {
    const record = await context().persistence.deployments.get(orgId, deploymentName);
    return record ? new DeploymentModel(record) : undefined;
  }
}

export type DepPackageModelFields = Omit<DepPackageRecord, "created_at"> & { created_at?: string };

export class DepPackageModel extends recordBase<DepPackageModelFields>() {
  /** Creates or updates it; a slug owned by another org is a ConflictError. */
  async save(): Promise<void> {
    this.created_at ??= new Date().toISOString();
    await context().persistence.depPackages.put(fieldsOf<DepPackageRecord>(this));
  }

  static async get(slug: string): Promise<DepPackageModel | undefined> {
    const record = await context().persistence.depPackages.get(slug);
    return record ? new DepPackageModel(record) : undefined;
  }
}
