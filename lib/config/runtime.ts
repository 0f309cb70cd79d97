/**
 * The one runtime configuration: every variable an entry point reads, parsed once per entry
 * point by `parseRuntimeConfig(env, entryPoint)` into a typed `RuntimeConfig`. The stack builds
 * each Lambda's environment from `ENTRY_POINT_VARIABLES` (a test proves every variable a
 * handler requires is set), and the CLI and console read stack outputs by the same names.
 *
 * zod/mini, as the other wire schemas of the Lambda bundles: the classic API would add ~60 KB.
 * The worker reads its own per-run variables (WORKER_ENV) in lib/worker/config.ts; they are
 * written by the launcher for each task, not configured per stack.
 */
import * as z from "zod/mini";
import { ConfigurationError } from "../errors";
import { WORKLOAD_PROFILES, type WorkloadProfile } from "../launcher/types";
import { FUNCTION_ENV, HANDLER_ENV, LAUNCHER_ENV, parseList, PLATFORM_ENV, WARM_ENV } from "./env";
import { parseWarmPools, type WarmPoolSpec } from "./warm-pools";

export type Env = Readonly<Record<string, string | undefined>>;

/** The processes that read configuration from their environment. */
export const ENTRY_POINTS = [
  "api",
  "registration",
  "launch",
  "task-events",
  "reconcile",
  "warm-fallback",
  "launcher",
] as const;
export type EntryPoint = (typeof ENTRY_POINTS)[number];

const TABLE_VARIABLES = [
  PLATFORM_ENV.flowsTable,
  PLATFORM_ENV.runsTable,
  PLATFORM_ENV.deploymentsTable,
  PLATFORM_ENV.depPackagesTable,
] as const;

/** What a launcher on ECS needs (the guide's list plus the stack's task definition). */
const ECS_LAUNCHER_VARIABLES = [
  LAUNCHER_ENV.clusterArn,
  LAUNCHER_ENV.taskExecutionRoleArn,
  LAUNCHER_ENV.taskRoleArn,
  LAUNCHER_ENV.subnets,
  LAUNCHER_ENV.securityGroups,
  LAUNCHER_ENV.logGroup,
  PLATFORM_ENV.taskDefinition,
  PLATFORM_ENV.containerName,
] as const;

const LAUNCHER_VARIABLES = [
  ...TABLE_VARIABLES,
  LAUNCHER_ENV.artifactBucket,
  LAUNCHER_ENV.tracesBucket,
  FUNCTION_ENV.environment,
] as const;

export interface EntryPointVariables {
  /** Must be set (on ECS; `ecsOnly` ones are not needed with the local compute backend). */
  readonly required: readonly string[];
  /** Needed only when the compute backend is ECS. */
  readonly ecsOnly: readonly string[];
  /** Read when present. */
  readonly optional: readonly string[];
}

const COMMON_OPTIONAL = [
  PLATFORM_ENV.region,
  PLATFORM_ENV.dynamodbEndpoint,
  PLATFORM_ENV.s3Endpoint,
  PLATFORM_ENV.computeBackend,
  PLATFORM_ENV.localSecretsFile,
] as const;

/** What every function that launches or relaunches may read beyond the required. */
const LAUNCHER_OPTIONAL = [
  ...COMMON_OPTIONAL,
  LAUNCHER_ENV.workerImage,
  FUNCTION_ENV.defaultWorkloadProfile,
  HANDLER_ENV.maxRelaunches,
] as const;

/**
 * Warm pools on Fargate (issue #14): read by the functions that start first attempts (api,
 * launch). Relaunches are always cold, so task-events, reconcile and warm-fallback do not.
 */
const WARM_DISPATCH_OPTIONAL = [
  WARM_ENV.pools,
  WARM_ENV.poolTable,
  WARM_ENV.fallbackQueueUrl,
] as const;

/** Which variables each entry point reads: the stack sets exactly these. */
export const ENTRY_POINT_VARIABLES: Readonly<Record<EntryPoint, EntryPointVariables>> = {
  api: {
    required: [...LAUNCHER_VARIABLES, FUNCTION_ENV.apiAuthMode],
    ecsOnly: ECS_LAUNCHER_VARIABLES,
    optional: [
      ...LAUNCHER_OPTIONAL,
      ...WARM_DISPATCH_OPTIONAL,
      FUNCTION_ENV.apiOrgClaim,
      FUNCTION_ENV.launchFunctionArn,
      FUNCTION_ENV.scheduleRulePrefix,
      FUNCTION_ENV.secretArnPatterns,
      FUNCTION_ENV.secretNamePrefix,
      HANDLER_ENV.schedulerRoleArn,
      HANDLER_ENV.schedulerGroup,
    ],
  },
  // Registers flows and packages: their two tables and the artifacts bucket; launches nothing.
  registration: {
    required: [
      PLATFORM_ENV.flowsTable,
      PLATFORM_ENV.depPackagesTable,
      LAUNCHER_ENV.artifactBucket,
      FUNCTION_ENV.apiAuthMode,
    ],
    ecsOnly: [],
    optional: [
      PLATFORM_ENV.region,
      PLATFORM_ENV.dynamodbEndpoint,
      PLATFORM_ENV.s3Endpoint,
      FUNCTION_ENV.apiOrgClaim,
    ],
  },
  launch: {
    required: LAUNCHER_VARIABLES,
    ecsOnly: ECS_LAUNCHER_VARIABLES,
    optional: [...LAUNCHER_OPTIONAL, ...WARM_DISPATCH_OPTIONAL],
  },
  // The worker container's name defaults to `worker`, the stack's.
  // Both relaunch runs the infrastructure stopped: they are launchers.
  "task-events": {
    required: LAUNCHER_VARIABLES,
    ecsOnly: ECS_LAUNCHER_VARIABLES,
    optional: LAUNCHER_OPTIONAL,
  },
  reconcile: {
    required: LAUNCHER_VARIABLES,
    ecsOnly: ECS_LAUNCHER_VARIABLES,
    optional: [
      ...LAUNCHER_OPTIONAL,
      HANDLER_ENV.reconcileQueuedMinutes,
      HANDLER_ENV.reconcileRunningMinutes,
      HANDLER_ENV.reconcileStartTimeoutMinutes,
    ],
  },
  // Consumes the warm fallback queue: a warm dispatch nobody claimed is relaunched cold.
  "warm-fallback": {
    required: LAUNCHER_VARIABLES,
    ecsOnly: ECS_LAUNCHER_VARIABLES,
    optional: LAUNCHER_OPTIONAL,
  },
  // DagLauncher.fromEnv in users' code: the guide's variables; tables default to `dagy-*`.
  launcher: {
    required: [LAUNCHER_ENV.artifactBucket, LAUNCHER_ENV.tracesBucket],
    ecsOnly: [
      LAUNCHER_ENV.clusterArn,
      LAUNCHER_ENV.subnets,
      LAUNCHER_ENV.securityGroups,
      LAUNCHER_ENV.logGroup,
      PLATFORM_ENV.taskDefinition,
    ],
    optional: [
      ...COMMON_OPTIONAL,
      ...TABLE_VARIABLES,
      FUNCTION_ENV.environment,
      FUNCTION_ENV.defaultWorkloadProfile,
      LAUNCHER_ENV.taskExecutionRoleArn,
      LAUNCHER_ENV.taskRoleArn,
      LAUNCHER_ENV.logGroup,
      LAUNCHER_ENV.workerImage,
      PLATFORM_ENV.containerName,
    ],
  },
};

export interface TableNamesConfig {
  readonly flows: string;
  readonly runs: string;
  readonly deployments: string;
  readonly depPackages: string;
}

export interface RuntimeConfig {
  readonly entryPoint: EntryPoint;
  /** `develop` | `staging` | `production` (or a local name): what launches default to. */
  readonly environment?: string;
  /** Unset: the SDK's own region chain decides (AWS_REGION, profile, ...), for every client. */
  readonly region?: string;
  readonly computeBackend: "ecs" | "local";
  readonly endpoints: { readonly dynamodb?: string; readonly s3?: string };
  readonly tables: TableNamesConfig;
  readonly artifactBucket?: string;
  readonly tracesBucket?: string;
  readonly ecs: {
    readonly clusterArn?: string;
    readonly taskExecutionRoleArn?: string;
    readonly taskRoleArn?: string;
    readonly workerImage?: string;
    readonly subnets: readonly string[];
    readonly securityGroups: readonly string[];
    readonly logGroup?: string;
    readonly taskDefinition?: string;
    readonly containerName?: string;
  };
  readonly api: { readonly authMode: "iam" | "jwt"; readonly orgClaim?: string };
  readonly schedules: {
    readonly launchFunctionArn?: string;
    readonly rulePrefix?: string;
    readonly schedulerRoleArn?: string;
    readonly schedulerGroup?: string;
  };
  /** The profile sizing the stack's task definition: what a launch naming no size gets. */
  readonly defaultWorkloadProfile?: WorkloadProfile;
  readonly reconcile: {
    readonly queuedAfterMs: number;
    readonly runningAfterMs: number;
    readonly startTimeoutMs: number;
  };
  /** Relaunches after infrastructure failures when a launch does not say. */
  readonly maxRelaunches?: number;
  /** Which secrets launches may name; no patterns: any well-formed ARN (local platform). */
  readonly secrets: { readonly arnPatterns: readonly string[]; readonly namePrefix?: string };
  readonly localSecretsFile?: string;
  /**
   * Fargate warm pools (DAGY_WARM_POOLS); empty: every launch is cold. With pools, the pool
   * table and the fallback queue are set too (checked here).
   */
  readonly warm: {
    readonly pools: readonly WarmPoolSpec[];
    readonly poolTable?: string;
    readonly fallbackQueueUrl?: string;
  };
}

/** Defaults for table names when an entry point may omit them (DagLauncher.fromEnv). */
export const DEFAULT_TABLE_NAMES: TableNamesConfig = {
  flows: "dagy-flows",
  runs: "dagy-runs",
  deployments: "dagy-deployments",
  depPackages: "dagy-dep-packages",
};

const DEFAULT_QUEUED_MINUTES = 15;
const DEFAULT_RUNNING_MINUTES = 10;
const DEFAULT_START_TIMEOUT_MINUTES = 10;

// A value: trimmed, non-empty, no control characters, bounded.
const text = z.string().check(
  z.trim(),
  z.minLength(1, { error: "must not be empty" }),
  z.maxLength(2048, { error: "must be at most 2048 characters" }),
  // eslint-disable-next-line no-control-regex
  z.regex(/^[^\u0000-\u001f\u007f]*$/, { error: "must not contain control characters" }),
);
const url = text.check(
  z.regex(/^https?:\/\/[^\s]+$/, { error: "must be an http(s) URL such as http://127.0.0.1:4567" }),
);
const minutes = z.pipe(
  text.check(z.regex(/^\d+(\.\d+)?$/, { error: "must be a positive number of minutes" })),
  z.transform(Number),
);

const variableSchemas: Record<string, z.ZodMiniType> = {
  [PLATFORM_ENV.computeBackend]: z.enum(["ecs", "local"], { error: 'must be "ecs" or "local"' }),
  [FUNCTION_ENV.apiAuthMode]: z.enum(["iam", "jwt"], { error: 'must be "iam" or "jwt"' }),
  [PLATFORM_ENV.dynamodbEndpoint]: url,
  [PLATFORM_ENV.s3Endpoint]: url,
  [FUNCTION_ENV.defaultWorkloadProfile]: z.enum(
    Object.keys(WORKLOAD_PROFILES) as [WorkloadProfile, ...WorkloadProfile[]],
    { error: `must be a workload profile: ${Object.keys(WORKLOAD_PROFILES).join(", ")}` },
  ),
  [HANDLER_ENV.reconcileQueuedMinutes]: minutes,
  [HANDLER_ENV.reconcileRunningMinutes]: minutes,
  [HANDLER_ENV.reconcileStartTimeoutMinutes]: minutes,
  // JSON of up to MAX_WARM_POOLS entries: longer than one value; parseWarmPools checks it.
  [WARM_ENV.pools]: z
    .string()
    .check(z.maxLength(16_384, { error: "must be at most 16384 characters" })),
  [WARM_ENV.fallbackQueueUrl]: url,
  [HANDLER_ENV.maxRelaunches]: z.pipe(
    text.check(z.regex(/^(10|\d)$/, { error: "must be a whole number from 0 to 10" })),
    z.transform(Number),
  ),
};

const ENUM_VARIABLES = new Set<string>([
  PLATFORM_ENV.computeBackend,
  FUNCTION_ENV.apiAuthMode,
  FUNCTION_ENV.defaultWorkloadProfile,
]);

/**
 * Reads every variable `entryPoint` uses from `env`, checks each, and reports every problem
 * at once in one ConfigurationError naming the variables.
 */
export function parseRuntimeConfig(env: Env, entryPoint: EntryPoint): RuntimeConfig {
  const spec = ENTRY_POINT_VARIABLES[entryPoint];
  const problems: string[] = [];
  const values = new Map<string, unknown>();
  for (const name of new Set([...spec.required, ...spec.ecsOnly, ...spec.optional])) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") continue;
    // Enumerations are case-insensitive (`ECS`, `Local`), as they always were.
    const input = ENUM_VARIABLES.has(name) ? raw.trim().toLowerCase() : raw;
    const result = (variableSchemas[name] ?? text).safeParse(input);
    if (result.success) values.set(name, result.data);
    else problems.push(`${name} ${result.error.issues[0]?.message ?? "is invalid"}`);
  }
  const computeBackend =
    (values.get(PLATFORM_ENV.computeBackend) as "ecs" | "local" | undefined) ?? "ecs";
  const required = computeBackend === "ecs" ? [...spec.required, ...spec.ecsOnly] : spec.required;
  const missing = required.filter(
    (name) => !values.has(name) && !problems.some((p) => p.startsWith(`${name} `)),
  );
  if (missing.length > 0) problems.unshift(`missing ${missing.join(", ")}`);
  const warmPools = parseWarmPools(values.get(WARM_ENV.pools) as string | undefined);
  if (typeof warmPools === "string") problems.push(warmPools);
  else if (warmPools.length > 0) {
    const needed = [WARM_ENV.poolTable, WARM_ENV.fallbackQueueUrl].filter((n) => !values.has(n));
    if (needed.length > 0) problems.push(`${WARM_ENV.pools} needs ${needed.join(" and ")} set`);
  }
  if (problems.length > 0) {
    throw new ConfigurationError(`${entryPoint} configuration is invalid: ${problems.join("; ")}`);
  }
  const get = (name: string): string | undefined => values.get(name) as string | undefined;
  const opt = <K extends string>(key: K, name: string): Partial<Record<K, string>> => {
    const value = get(name);
    return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  };
  return {
    entryPoint,
    ...opt("environment", FUNCTION_ENV.environment),
    ...opt("region", PLATFORM_ENV.region),
    computeBackend,
    endpoints: {
      ...opt("dynamodb", PLATFORM_ENV.dynamodbEndpoint),
      ...opt("s3", PLATFORM_ENV.s3Endpoint),
    },
    tables: {
      flows: get(PLATFORM_ENV.flowsTable) ?? DEFAULT_TABLE_NAMES.flows,
      runs: get(PLATFORM_ENV.runsTable) ?? DEFAULT_TABLE_NAMES.runs,
      deployments: get(PLATFORM_ENV.deploymentsTable) ?? DEFAULT_TABLE_NAMES.deployments,
      depPackages: get(PLATFORM_ENV.depPackagesTable) ?? DEFAULT_TABLE_NAMES.depPackages,
    },
    ...opt("artifactBucket", LAUNCHER_ENV.artifactBucket),
    ...opt("tracesBucket", LAUNCHER_ENV.tracesBucket),
    ecs: {
      ...opt("clusterArn", LAUNCHER_ENV.clusterArn),
      ...opt("taskExecutionRoleArn", LAUNCHER_ENV.taskExecutionRoleArn),
      ...opt("taskRoleArn", LAUNCHER_ENV.taskRoleArn),
      ...opt("workerImage", LAUNCHER_ENV.workerImage),
      subnets: parseList(get(LAUNCHER_ENV.subnets)),
      securityGroups: parseList(get(LAUNCHER_ENV.securityGroups)),
      ...opt("logGroup", LAUNCHER_ENV.logGroup),
      ...opt("taskDefinition", PLATFORM_ENV.taskDefinition),
      ...opt("containerName", PLATFORM_ENV.containerName),
    },
    api: {
      authMode: (values.get(FUNCTION_ENV.apiAuthMode) as "iam" | "jwt" | undefined) ?? "iam",
      ...opt("orgClaim", FUNCTION_ENV.apiOrgClaim),
    },
    schedules: {
      ...opt("launchFunctionArn", FUNCTION_ENV.launchFunctionArn),
      ...opt("rulePrefix", FUNCTION_ENV.scheduleRulePrefix),
      ...opt("schedulerRoleArn", HANDLER_ENV.schedulerRoleArn),
      ...opt("schedulerGroup", HANDLER_ENV.schedulerGroup),
    },
    ...(values.has(FUNCTION_ENV.defaultWorkloadProfile)
      ? {
          defaultWorkloadProfile: values.get(
            FUNCTION_ENV.defaultWorkloadProfile,
          ) as WorkloadProfile,
        }
      : {}),
    reconcile: {
      queuedAfterMs:
        ((values.get(HANDLER_ENV.reconcileQueuedMinutes) as number | undefined) ??
          DEFAULT_QUEUED_MINUTES) * 60_000,
      runningAfterMs:
        ((values.get(HANDLER_ENV.reconcileRunningMinutes) as number | undefined) ??
          DEFAULT_RUNNING_MINUTES) * 60_000,
      startTimeoutMs:
        ((values.get(HANDLER_ENV.reconcileStartTimeoutMinutes) as number | undefined) ??
          DEFAULT_START_TIMEOUT_MINUTES) * 60_000,
    },
    ...(values.has(HANDLER_ENV.maxRelaunches)
      ? { maxRelaunches: values.get(HANDLER_ENV.maxRelaunches) as number }
      : {}),
    secrets: {
      arnPatterns: parseList(get(FUNCTION_ENV.secretArnPatterns)),
      ...opt("namePrefix", FUNCTION_ENV.secretNamePrefix),
    },
    ...opt("localSecretsFile", PLATFORM_ENV.localSecretsFile),
    warm: {
      pools: typeof warmPools === "string" ? [] : warmPools,
      ...opt("poolTable", WARM_ENV.poolTable),
      ...opt("fallbackQueueUrl", WARM_ENV.fallbackQueueUrl),
    },
  };
}
