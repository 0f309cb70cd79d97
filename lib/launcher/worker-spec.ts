/**
 * What a worker receives: its environment (built once, here, for every backend) and the ECS
 * RunTask overrides that carry it. LocalBackend gives a child process exactly `environment`;
 * EcsBackend sends `buildTaskOverrides(spec)`. The launcher measures the same overrides before
 * writing anything, so a request that cannot fit is refused up front.
 */
import type { TaskOverride } from "@aws-sdk/client-ecs";
import { WORKER_ENV, type WorkerRunEnvironment } from "../config/env";
import type { TaskResources } from "./fargate";
import type { DagLaunchRequest, WorkerLaunchSpec } from "./types";

/**
 * ECS refuses RunTask overrides over 8,192 characters, counting the JSON of the override
 * structure. We measure `JSON.stringify(overrides)` of the whole object, which is at least as
 * much as ECS counts.
 */
export const ECS_OVERRIDES_MAX_CHARS = 8192;

export interface WorkerEnvironmentInput extends WorkerRunEnvironment {
  /** Caller's variables; names were validated not to collide with `DAGY_*`. */
  readonly extraEnvVars?: Readonly<Record<string, string>>;
}

/**
 * The container environment of one run. Upper-cased parameter variables are not here: the
 * worker derives them from the parameters, which keeps the overrides small.
 */
export function buildWorkerEnvironment(input: WorkerEnvironmentInput): Record<string, string> {
  const env: Record<string, string> = { ...(input.extraEnvVars ?? {}) };
  env[WORKER_ENV.runId] = input.runId;
  env[WORKER_ENV.orgId] = input.orgId;
  env[WORKER_ENV.flowName] = input.flowName;
  env[WORKER_ENV.flowVersion] = input.flowVersion;
  env[WORKER_ENV.artifactUri] = input.artifactUri;
  env[WORKER_ENV.artifactSha256] = input.artifactSha256;
  // Always present, even empty: the run's environment is whatever the request said.
  env[WORKER_ENV.environment] = input.environment;
  env[WORKER_ENV.correlationId] = input.correlationId;
  if (input.parametersUri !== undefined) {
    env[WORKER_ENV.parametersUri] = input.parametersUri;
  } else if (input.parametersInRun === true) {
    env[WORKER_ENV.parametersInRun] = "1";
  } else {
    env[WORKER_ENV.parameters] = JSON.stringify(input.parameters ?? {});
  }
  if (input.depPackageUris.length > 0) {
    env[WORKER_ENV.depPackageUris] = input.depPackageUris.join(",");
  }
  if (input.secretNames.length > 0) {
    env[WORKER_ENV.secretNames] = JSON.stringify([...input.secretNames].sort());
  }
  env[WORKER_ENV.runsTable] = input.runsTable;
  env[WORKER_ENV.tracesBucket] = input.tracesBucket;
  if (input.logGroup) env[WORKER_ENV.logGroup] = input.logGroup;
  if (input.region) env.AWS_REGION = input.region;
  if (input.parentRunId) env[WORKER_ENV.parentRunId] = input.parentRunId;
  if (input.mapTask) env[WORKER_ENV.mapTask] = input.mapTask;
  if (input.mapItems) env[WORKER_ENV.mapItems] = input.mapItems;
  return env;
}

export interface TaskOverridesOptions {
  /** Name of the worker container in the task definition. */
  readonly containerName: string;
  readonly taskRoleArn?: string;
  readonly executionRoleArn?: string;
}

/** RunTask `overrides` for one run: task size, storage and the container environment. */
export function buildTaskOverrides(
  spec: WorkerLaunchSpec,
  options: TaskOverridesOptions,
): TaskOverride {
  const environment = Object.keys(spec.environment)
    .sort()
    .map((name) => ({ name, value: spec.environment[name] ?? "" }));
  // Without a size asked for, the task definition's applies (the environment's profile).
  const size = spec.overrideSize !== false;
  return {
    ...(size ? { cpu: spec.cpu, memory: spec.memory } : {}),
    ephemeralStorage: { sizeInGiB: spec.ephemeralStorageGib },
    containerOverrides: [
      {
        name: options.containerName,
        environment,
        // The container gets the whole task size, so a smaller container-level limit in the
        // task definition cannot starve a task that asked for more.
        ...(size ? { cpu: Number(spec.cpu), memory: Number(spec.memory) } : {}),
      },
    ],
    ...(options.taskRoleArn !== undefined ? { taskRoleArn: options.taskRoleArn } : {}),
    ...(options.executionRoleArn !== undefined
      ? { executionRoleArn: options.executionRoleArn }
      : {}),
  };
}

/** Characters of the overrides as measured against ECS_OVERRIDES_MAX_CHARS. */
export function overridesSize(overrides: TaskOverride): number {
  return JSON.stringify(overrides).length;
}

/** What a backend receives for one run: the environment and the task's size. */
export function workerLaunchSpec(
  request: DagLaunchRequest,
  resources: TaskResources,
  environment: Record<string, string>,
): WorkerLaunchSpec {
  return {
    runId: environment.DAGY_RUN_ID ?? "",
    orgId: request.orgId,
    flowName: request.flowName,
    environment,
    cpu: resources.cpu,
    memory: resources.memory,
    overrideSize: resources.overrideSize,
    ephemeralStorageGib: resources.ephemeralStorageGib,
    capacityProvider: resources.capacityProvider,
    secretsEnv: request.secretsEnv ?? {},
  };
}
