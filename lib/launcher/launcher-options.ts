/** DagLauncher's configuration (the guide's variables and Dagy's) and what may be injected. */
import type { ECSClient } from "@aws-sdk/client-ecs";
// Type only: createDataClients would bundle the S3 client (~100 KB) into the Lambda handlers.
import type { DataClients } from "../aws/clients";
import type { JsonLogger } from "../log";
import type { MetricSink } from "../metrics";
import type { Persistence } from "../persistence/persistence";
import type { TableNames } from "../persistence/schema";
// Type only, for the same reason: callers that can spill to S3 (CLI, local platform) inject one.
import type { ObjectStore } from "../storage/object-store";
import type { EcsBackendOptions } from "./ecs-backend";
// Type only: LocalBackend (child processes, tsx resolution) must stay out of the Lambda bundles,
// which reach this module; the local platform and the CLI inject it (DagLauncherDeps.localBackend).
import type { LocalBackendOptions } from "./local-backend";
import type { ComputeBackend, WorkloadProfile } from "./types";
import type { WarmDispatcher } from "./warm-dispatch";

/** What the launcher needs from persistence (the real `Persistence` satisfies it). */
export interface LauncherPersistence {
  readonly flows: Pick<Persistence["flows"], "resolve">;
  readonly runs: Pick<
    Persistence["runs"],
    | "create"
    | "get"
    | "transition"
    | "update"
    | "requestCancel"
    | "recordAttempt"
    | "recordClaimedFirstAttempt"
    | "addRerun"
  >;
  readonly idempotency: Pick<Persistence["idempotency"], "claim" | "complete" | "release">;
  readonly deployments: Pick<Persistence["deployments"], "resolvePackageUris">;
}

export type ComputeBackendKind = "ecs" | "local";

export interface DagLauncherOptions {
  // The guide's configuration (DAGY_ECS_* and bucket variables).
  readonly clusterArn?: string;
  readonly taskExecutionRoleArn?: string;
  readonly taskRoleArn?: string;
  /**
   * The image of the stack's task definition. Read for the guide's configuration contract; a
   * launch uses `taskDefinition`, which already names the image (and its architecture).
   */
  readonly workerImage?: string;
  readonly subnets?: readonly string[];
  readonly securityGroups?: readonly string[];
  readonly logGroup?: string;
  readonly region?: string;
  /** Required: very large parameters spill to `run-inputs/…` here (when a store is given). */
  readonly artifactBucket?: string;
  /** Required: the worker uploads failure tracebacks here. */
  readonly tracesBucket?: string;
  // Dagy's additions.
  /** Default `tableNamesFor("dagy")`. */
  readonly tables?: TableNames;
  /** Required on ECS: the stack's worker task definition; see EcsBackendOptions.taskDefinition. */
  readonly taskDefinition?: string;
  /** Default `worker`. */
  readonly containerName?: string;
  readonly assignPublicIp?: "ENABLED" | "DISABLED";
  /** Default `ecs`. Ignored when a backend is injected. */
  readonly computeBackend?: ComputeBackendKind;
  /** Local endpoints (embedded default and tests). */
  readonly dynamodbEndpoint?: string;
  readonly s3Endpoint?: string;
  /** LocalBackend settings when `computeBackend` is `local`. */
  readonly local?: Partial<LocalBackendOptions>;
  /** Extra EcsBackend settings (retry policies, ...). */
  readonly ecs?: Partial<Omit<EcsBackendOptions, "ecs">>;
  /** Size used when a request names neither a profile nor cpu/memory. Default `medium`. */
  readonly defaultWorkloadProfile?: WorkloadProfile;
  /** Relaunches after infrastructure failures when a request does not say. Default 2. */
  readonly maxRelaunches?: number;
}

export interface DagLauncherDeps {
  readonly persistence?: LauncherPersistence;
  /**
   * Where parameters too large for the run record (RUN_RECORD_PARAMETERS_MAX_BYTES) are
   * spilled. Never built by the launcher: without it, such a launch is refused.
   */
  readonly store?: Pick<ObjectStore, "put">;
  readonly backend?: ComputeBackend;
  /** Used to build persistence when it is not given (only `doc` is used). */
  readonly clients?: Pick<DataClients, "doc">;
  /** Used to build the EcsBackend when no backend is given. */
  readonly ecsClient?: ECSClient;
  /**
   * Fargate warm pools for the EcsBackend it builds (`warmDispatcherFromConfig`); unset, every
   * launch starts its own task.
   */
  readonly warm?: Pick<WarmDispatcher, "dispatch">;
  /** The launcher's clock (created_at, idempotency windows, status writes). Default: now. */
  readonly now?: () => Date;
  /** Earlier name of `now`. */
  readonly clock?: () => Date;
  readonly idGenerator?: () => string;
  readonly logger?: Pick<JsonLogger, "info" | "warn">;
  /**
   * Where RunsLaunched and LaunchLatency go as EMF lines (lib/metrics.ts): stdout in the Lambda
   * handlers, where CloudWatch extracts them. Unset: no metrics.
   */
  readonly metrics?: MetricSink;
  /**
   * Builds the backend when `computeBackend` is `local` and no `backend` is given, e.g.
   * `(options) => new LocalBackend(options)`. Injected rather than imported so that code
   * which only launches on ECS (the Lambda handlers) does not bundle LocalBackend.
   */
  readonly localBackend?: (options: LocalBackendOptions) => LocalComputeBackend;
}

/** A local backend the launcher built, and so closes. */
export type LocalComputeBackend = ComputeBackend & { close(): Promise<void> };

export interface CancelRunOptions {
  /** The caller's org: a run of another org is "not found". */
  readonly orgId?: string;
  readonly reason?: string;
}

export const DEFAULT_TABLES: TableNames = {
  flows: "dagy-flows",
  runs: "dagy-runs",
  deployments: "dagy-deployments",
  depPackages: "dagy-dep-packages",
};
