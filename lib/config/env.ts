/**
 * Names of every `DAGY_*` environment variable, in one place. The launcher reads the guide's
 * configuration variables; the worker reads the run's identity. Only entry points read
 * `process.env`; libraries receive values through options.
 */
import type { Json } from "../sdk/types";

/** The guide's launcher configuration (stack outputs). */
export const LAUNCHER_ENV = {
  clusterArn: "DAGY_ECS_CLUSTER_ARN",
  taskExecutionRoleArn: "DAGY_ECS_EXECUTION_ROLE_ARN",
  taskRoleArn: "DAGY_ECS_TASK_ROLE_ARN",
  workerImage: "DAGY_ECS_WORKER_IMAGE",
  subnets: "DAGY_ECS_SUBNETS",
  securityGroups: "DAGY_ECS_SECURITY_GROUPS",
  logGroup: "DAGY_ECS_LOG_GROUP",
  artifactBucket: "DAGY_ARTIFACT_BUCKET",
  tracesBucket: "DAGY_TRACES_BUCKET",
} as const;

/** Dagy additions needed beside the guide's list (also stack outputs). */
export const PLATFORM_ENV = {
  /** Family of the worker task definition registered by the stack. */
  taskDefinition: "DAGY_ECS_TASK_DEFINITION",
  /** Name of the worker container inside the task definition. Default `worker`. */
  containerName: "DAGY_ECS_CONTAINER_NAME",
  flowsTable: "DAGY_FLOWS_TABLE",
  runsTable: "DAGY_RUNS_TABLE",
  deploymentsTable: "DAGY_DEPLOYMENTS_TABLE",
  depPackagesTable: "DAGY_DEP_PACKAGES_TABLE",
  region: "AWS_REGION",
  /** Local endpoints (embedded default and tests); unset in AWS. */
  dynamodbEndpoint: "DAGY_DYNAMODB_ENDPOINT",
  s3Endpoint: "DAGY_S3_ENDPOINT",
  /** `ecs` (default in AWS) or `local`. */
  computeBackend: "DAGY_COMPUTE_BACKEND",
  /** Local only: JSON file mapping secret ARN -> value, in place of Secrets Manager. */
  localSecretsFile: "DAGY_LOCAL_SECRETS_FILE",
} as const;

/** What the worker container receives for one run (container environment overrides). */
export const WORKER_ENV = {
  runId: "DAGY_RUN_ID",
  orgId: "DAGY_ORG_ID",
  flowName: "DAGY_FLOW_NAME",
  flowVersion: "DAGY_FLOW_VERSION",
  artifactUri: "DAGY_ARTIFACT_URI",
  artifactSha256: "DAGY_ARTIFACT_SHA256",
  environment: "DAGY_ENVIRONMENT",
  correlationId: "DAGY_CORRELATION_ID",
  /** Run parameters as JSON, when they fit in the container overrides. */
  parameters: "DAGY_PARAMETERS",
  /** Where the parameters are when they did not fit (`s3://…`). */
  parametersUri: "DAGY_PARAMETERS_URI",
  /**
   * `1` when the parameters did not fit the container overrides and are kept in the run record
   * instead (the worker takes them from the record it claims).
   */
  parametersInRun: "DAGY_PARAMETERS_IN_RUN",
  depPackageUris: "DAGY_DEP_PACKAGE_URIS",
  /** JSON array of the secret env names the run declares (values come from ECS, never from Dagy). */
  secretNames: "DAGY_SECRET_NAMES",
  logGroup: "DAGY_ECS_LOG_GROUP",
  tracesBucket: "DAGY_TRACES_BUCKET",
  runsTable: "DAGY_RUNS_TABLE",
  maxParallelism: "DAGY_MAX_PARALLELISM",
  /** A child run of an isolated map: its parent run, the mapped task, items `<first>-<last>`. */
  parentRunId: "DAGY_PARENT_RUN_ID",
  mapTask: "DAGY_MAP_TASK",
  mapItems: "DAGY_MAP_ITEMS",
  /**
   * The platform's HTTP API, where a parent run's worker asks for its children (set by the
   * local backend; in AWS, see README "Isolated fan-out").
   */
  apiUrl: "DAGY_API_URL",
} as const;

/**
 * One run's identity and inputs as the worker's environment carries them (WORKER_ENV): the
 * launcher writes them (lib/launcher/worker-spec.ts), the worker reads them (lib/worker/config.ts).
 */
export interface WorkerRunEnvironment {
  readonly runId: string;
  readonly orgId: string;
  readonly flowName: string;
  readonly flowVersion: string;
  readonly artifactUri: string;
  /** sha256 of the whole artifact zip, as registered. */
  readonly artifactSha256: string;
  readonly environment: string;
  readonly correlationId: string;
  /** Inline parameters (DAGY_PARAMETERS), when they fit in the container overrides. */
  readonly parameters?: Record<string, Json>;
  /** Where the parameters were spilled (DAGY_PARAMETERS_URI). */
  readonly parametersUri?: string;
  /** The parameters are in the run record (DAGY_PARAMETERS_IN_RUN=1), not in the environment. */
  readonly parametersInRun?: boolean;
  readonly depPackageUris: readonly string[];
  /** Names (never values) of the env variables holding secrets. */
  readonly secretNames: readonly string[];
  readonly runsTable: string;
  readonly tracesBucket: string;
  /** CloudWatch log group for the per-run stream. */
  readonly logGroup?: string;
  readonly region?: string;
  /** A child run of an isolated map (DAGY_PARENT_RUN_ID, DAGY_MAP_TASK, DAGY_MAP_ITEMS). */
  readonly parentRunId?: string;
  readonly mapTask?: string;
  readonly mapItems?: string;
}

/** Reads a comma-separated list; empty entries are dropped. */
export function parseList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Variables the stack sets on the Lambda functions beyond the launcher's. */
export const FUNCTION_ENV = {
  /** `develop` | `staging` | `production`: the environment launches default to. */
  environment: WORKER_ENV.environment,
  /**
   * The workload profile that sizes the worker task definition (the stack config's
   * `defaultWorkloadProfile`). A launch naming no profile and no cpu/memory sends no task-size
   * override, so the task definition's size applies, and records this profile's size.
   */
  defaultWorkloadProfile: "DAGY_DEFAULT_WORKLOAD_PROFILE",
  /** Always `ecs` in AWS. */
  computeBackend: PLATFORM_ENV.computeBackend,
  /** `iam` or `jwt`: how the API learns the caller (IAM: org from the request; JWT: from a claim). */
  apiAuthMode: "DAGY_API_AUTH_MODE",
  /** JWT claim holding the caller's org id (JWT mode only). */
  apiOrgClaim: "DAGY_API_ORG_CLAIM",
  /**
   * Name prefix of the EventBridge rules the API may create for runtime schedules
   * (`<appName>-<env>-`). Rules outside it are not the API's to touch.
   */
  scheduleRulePrefix: "DAGY_SCHEDULE_RULE_PREFIX",
  /** Target of runtime schedule rules: the launch function's ARN. */
  launchFunctionArn: "DAGY_LAUNCH_FUNCTION_ARN",
  /** Comma-separated Secrets Manager ARN patterns launches may name (the execution role's). */
  secretArnPatterns: "DAGY_SECRET_ARN_PATTERNS",
  /** `<appName>/`: in JWT mode a caller's secrets must be named `<prefix><org_id>/...`. */
  secretNamePrefix: "DAGY_SECRET_NAME_PREFIX",
} as const;

/**
 * Optional handler settings beyond the stack's function environment (FUNCTION_ENV above).
 * Unset means the documented default.
 */
export const HANDLER_ENV = {
  /**
   * Role EventBridge Scheduler assumes to invoke the launch function. Set it to allow runtime
   * schedules with a `time_zone`; unset, such schedules are refused with a 400.
   */
  schedulerRoleArn: "DAGY_SCHEDULER_ROLE_ARN",
  /** EventBridge Scheduler group for time-zoned schedules. Default `default`. */
  schedulerGroup: "DAGY_SCHEDULER_GROUP",
  /** Reconciliation sweep: QUEUED runs idle this many minutes are checked. Default 15. */
  reconcileQueuedMinutes: "DAGY_RECONCILE_QUEUED_MINUTES",
  /** Reconciliation sweep: RUNNING runs idle this many minutes are checked. Default 10. */
  reconcileRunningMinutes: "DAGY_RECONCILE_RUNNING_MINUTES",
  /** Reconciliation sweep: a task still PENDING this many minutes is stopped and relaunched. Default 10. */
  reconcileStartTimeoutMinutes: "DAGY_RECONCILE_START_TIMEOUT_MINUTES",
  /** Relaunches after infrastructure failures when a launch does not say (0-10). Default 2. */
  maxRelaunches: "DAGY_MAX_RELAUNCHES",
} as const;

/**
 * Warm workers (issue #14): workers that start ahead of demand and wait for one assignment.
 *
 * - A warm worker is started with the platform variables it would get anyway (tables, buckets,
 *   region, endpoints) plus `DAGY_WARM_SOURCE`; the run's own WORKER_ENV variables arrive later
 *   in the assignment (lib/worker/warm.ts), exactly as a cold worker's container overrides.
 * - Locally the source is `ipc` (LocalBackend's pool); on Fargate it is `sqs`: an ECS service
 *   per pool whose tasks long-poll the pool's queue.
 */
export const WARM_ENV = {
  /** `ipc` (local pool) or `sqs` (Fargate pool). Unset: a cold worker (the run is in its env). */
  source: "DAGY_WARM_SOURCE",
  /** Fargate pool: the queue this worker long-polls for assignments. */
  queueUrl: "DAGY_WARM_QUEUE_URL",
  /** Fargate pool: the pool's name (its workload profile). */
  pool: "DAGY_WARM_POOL",
  /** Table holding each pool's idle-worker count (launcher reserves, workers add themselves). */
  poolTable: "DAGY_WARM_POOL_TABLE",
  /**
   * Launcher: JSON `[{"pool":"small","queue_url":"…","cpu":"256","memory":"512"}]`, the stack's
   * `warmPool` entries. Unset or `[]`: every launch is cold.
   */
  pools: "DAGY_WARM_POOLS",
  /**
   * Launcher: a delayed queue; a warm dispatch also sends its run id here, and the consumer
   * launches cold if no warm worker claimed the run by then.
   */
  fallbackQueueUrl: "DAGY_WARM_FALLBACK_QUEUE_URL",
} as const;
