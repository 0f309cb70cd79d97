/**
 * The worker's configuration: the run's identity and platform endpoints, read once from the
 * container environment by `worker/main.ts` and passed down typed. The same variables come
 * from ECS container overrides and from LocalBackend.
 */
import {
  LAUNCHER_ENV,
  PLATFORM_ENV,
  WORKER_ENV,
  parseList,
  type WorkerRunEnvironment,
} from "../config/env";
import { ConfigurationError } from "../errors";
import type { Json } from "../sdk/types";

export interface WorkerConfig extends WorkerRunEnvironment {
  /** Values of the secret variables, read once so every log line and record can be redacted. Never stored. */
  readonly secretValues: readonly string[];
  /** Ship events to CloudWatch Logs (off locally: endpoints set or DAGY_LOG_SHIPPING=off). */
  readonly logShipping: boolean;
  readonly maxParallelism?: number;
  readonly dynamodbEndpoint?: string;
  readonly s3Endpoint?: string;
  /** Emit a `worker_timings` log line with start-up marks (DAGY_WORKER_TIMINGS=1). */
  readonly emitTimings: boolean;
  /** The platform's HTTP API (DAGY_API_URL): where isolated maps ask for child runs. */
  readonly apiUrl?: string;
  /** Sign requests to `apiUrl` with SigV4 as the task role (DAGY_API_AUTH=sigv4; AWS IAM mode). */
  readonly apiAuth?: "sigv4";
  /** The container's stop timeout (DAGY_STOP_TIMEOUT_SECONDS); see `stopDeadlineMs`. */
  readonly stopTimeoutSeconds?: number;
  /** Put `Dagy Run Status Change` on the default bus (DAGY_RUN_STATUS_EVENTS=eventbridge). */
  readonly runStatusEvents?: "eventbridge";
  /** This worker's task id when its launcher gave it (DAGY_TASK_ARN). */
  readonly taskArn?: string;
  /** Local artifact cache directory (DAGY_ARTIFACT_CACHE_DIR). */
  readonly artifactCacheDir?: string;
}

/** ECS's stop timeout when the task definition sets none. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 30;

/**
 * How long the worker may drain after SIGTERM before it exits on its own: the container's stop
 * timeout less a margin (10 s, or a sixth of short timeouts) so its exit, not ECS's SIGKILL,
 * ends the task. 120 s (the stack's) gives 110 s; ECS's default 30 s gives 25 s.
 */
export function stopDeadlineMs(stopTimeoutSeconds: number = DEFAULT_STOP_TIMEOUT_SECONDS): number {
  const margin = Math.min(10, stopTimeoutSeconds / 6);
  return Math.round((stopTimeoutSeconds - margin) * 1000);
}

/** Worker-only switches beside the shared contract in lib/config/env.ts. */
export const WORKER_EXTRA_ENV = {
  /** `off` disables CloudWatch Logs shipping (it is also off when local endpoints are set). */
  logShipping: "DAGY_LOG_SHIPPING",
  /** `1` emits a `worker_timings` JSON line (used by bench/worker.ts). */
  timings: "DAGY_WORKER_TIMINGS",
  /**
   * The container's stop timeout in seconds (the task definition sets it beside `stopTimeout`):
   * on SIGTERM the worker drains for up to this minus a margin. Unset: 30 (ECS's default).
   */
  stopTimeoutSeconds: "DAGY_STOP_TIMEOUT_SECONDS",
  /** `eventbridge` puts `Dagy Run Status Change` events on the default bus; unset, they are logged. */
  runStatusEvents: "DAGY_RUN_STATUS_EVENTS",
  /**
   * `sigv4`: requests to DAGY_API_URL are signed with the task role's credentials (AWS, IAM
   * mode). Unset: sent as they are (the embedded platform).
   */
  apiAuth: "DAGY_API_AUTH",
  /**
   * The worker's own task id, when its launcher knows it up front (LocalBackend: `local:<run>`):
   * the claim records it on the run and its attempt with the start mode. On Fargate a warm
   * worker reads its ARN from the task metadata endpoint instead (./task-metadata.ts).
   */
  taskArn: "DAGY_TASK_ARN",
  /**
   * Local only: a directory of artifacts by SHA-256 (`<sha256>.zip`), shared by the platform's
   * workers, so a run of an artifact this machine has seen does not download it again.
   */
  artifactCacheDir: "DAGY_ARTIFACT_CACHE_DIR",
} as const;

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigurationError(`${name} is required and must not be empty`);
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function parseJson(env: Env, name: string): unknown {
  const raw = env[name] ?? "";
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new ConfigurationError(
      `${name} must be valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function stopTimeout(env: Env): { stopTimeoutSeconds?: number } {
  const raw = optional(env, WORKER_EXTRA_ENV.stopTimeoutSeconds);
  if (raw === undefined) return {};
  const seconds = Number(raw);
  if (!/^\d+$/.test(raw) || seconds < 2 || seconds > 120) {
    throw new ConfigurationError(
      `${WORKER_EXTRA_ENV.stopTimeoutSeconds} must be whole seconds from 2 to 120 (ECS's stopTimeout range), got "${raw}"`,
    );
  }
  return { stopTimeoutSeconds: seconds };
}

/** Reads and validates the worker configuration. Throws ConfigurationError naming the variable. */
export function parseWorkerConfig(env: Env): WorkerConfig {
  const runId = required(env, WORKER_ENV.runId);

  let parameters: Record<string, Json> | undefined;
  const parametersUri = optional(env, WORKER_ENV.parametersUri);
  if (optional(env, WORKER_ENV.parameters) !== undefined) {
    const parsed = parseJson(env, WORKER_ENV.parameters);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigurationError(`${WORKER_ENV.parameters} must be a JSON object`);
    }
    parameters = parsed as Record<string, Json>;
  }
  if (parametersUri !== undefined && !parametersUri.startsWith("s3://")) {
    throw new ConfigurationError(`${WORKER_ENV.parametersUri} must be an s3:// URI`);
  }
  const rawInRun = optional(env, WORKER_ENV.parametersInRun);
  if (rawInRun !== undefined && rawInRun !== "1" && rawInRun !== "0") {
    throw new ConfigurationError(
      `${WORKER_ENV.parametersInRun} must be "1" or "0", got "${rawInRun}"`,
    );
  }
  const parametersInRun = rawInRun === "1";

  let secretNames: string[] = [];
  if (optional(env, WORKER_ENV.secretNames) !== undefined) {
    const parsed = parseJson(env, WORKER_ENV.secretNames);
    if (!Array.isArray(parsed) || !parsed.every((n): n is string => typeof n === "string")) {
      throw new ConfigurationError(`${WORKER_ENV.secretNames} must be a JSON array of strings`);
    }
    secretNames = parsed;
  }
  const secretValues = secretNames
    .map((name) => env[name])
    .filter((v): v is string => typeof v === "string" && v.length > 0);

  let maxParallelism: number | undefined;
  const rawParallelism = optional(env, WORKER_ENV.maxParallelism);
  if (rawParallelism !== undefined) {
    maxParallelism = Number(rawParallelism);
    if (!Number.isInteger(maxParallelism) || maxParallelism < 1) {
      throw new ConfigurationError(
        `${WORKER_ENV.maxParallelism} must be a positive integer, got "${rawParallelism}"`,
      );
    }
  }

  const artifactSha256 = required(env, WORKER_ENV.artifactSha256).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(artifactSha256)) {
    throw new ConfigurationError(`${WORKER_ENV.artifactSha256} must be 64 hexadecimal characters`);
  }
  const artifactUri = required(env, WORKER_ENV.artifactUri);
  if (!artifactUri.startsWith("s3://")) {
    throw new ConfigurationError(`${WORKER_ENV.artifactUri} must be an s3:// URI`);
  }

  const dynamodbEndpoint = optional(env, PLATFORM_ENV.dynamodbEndpoint);
  const s3Endpoint = optional(env, PLATFORM_ENV.s3Endpoint);
  const logGroup = optional(env, WORKER_ENV.logGroup) ?? optional(env, LAUNCHER_ENV.logGroup);
  const shippingOff = optional(env, WORKER_EXTRA_ENV.logShipping)?.toLowerCase() === "off";

  return {
    runId,
    orgId: required(env, WORKER_ENV.orgId),
    flowName: required(env, WORKER_ENV.flowName),
    flowVersion: required(env, WORKER_ENV.flowVersion),
    artifactUri,
    artifactSha256,
    // Present even when empty: the run's environment is whatever the request said.
    environment: env[WORKER_ENV.environment]?.trim() ?? "",
    correlationId: optional(env, WORKER_ENV.correlationId) ?? runId,
    ...(parameters !== undefined ? { parameters } : {}),
    ...(parametersUri !== undefined ? { parametersUri } : {}),
    ...(parametersInRun ? { parametersInRun } : {}),
    depPackageUris: parseList(env[WORKER_ENV.depPackageUris]),
    secretNames,
    secretValues,
    runsTable: required(env, WORKER_ENV.runsTable),
    tracesBucket: required(env, WORKER_ENV.tracesBucket),
    ...(logGroup !== undefined ? { logGroup } : {}),
    logShipping: logGroup !== undefined && !shippingOff && dynamodbEndpoint === undefined,
    ...(maxParallelism !== undefined ? { maxParallelism } : {}),
    ...(optional(env, PLATFORM_ENV.region) !== undefined
      ? { region: optional(env, PLATFORM_ENV.region) }
      : {}),
    ...(dynamodbEndpoint !== undefined ? { dynamodbEndpoint } : {}),
    ...(s3Endpoint !== undefined ? { s3Endpoint } : {}),
    emitTimings: optional(env, WORKER_EXTRA_ENV.timings) === "1",
    ...childRunFields(env),
    ...stopTimeout(env),
    ...(optional(env, WORKER_EXTRA_ENV.taskArn) !== undefined
      ? { taskArn: optional(env, WORKER_EXTRA_ENV.taskArn) }
      : {}),
    ...(optional(env, WORKER_EXTRA_ENV.artifactCacheDir) !== undefined
      ? { artifactCacheDir: optional(env, WORKER_EXTRA_ENV.artifactCacheDir) }
      : {}),
    ...(optional(env, WORKER_EXTRA_ENV.runStatusEvents)?.toLowerCase() === "eventbridge"
      ? { runStatusEvents: "eventbridge" as const }
      : {}),
  };
}

/** DAGY_PARENT_RUN_ID, DAGY_MAP_TASK, DAGY_MAP_ITEMS (a child run) and DAGY_API_URL. */
function childRunFields(env: Env): Partial<WorkerConfig> {
  const parentRunId = optional(env, WORKER_ENV.parentRunId);
  const mapTask = optional(env, WORKER_ENV.mapTask);
  const mapItems = optional(env, WORKER_ENV.mapItems);
  const apiUrl = optional(env, WORKER_ENV.apiUrl);
  if ((mapTask === undefined) !== (mapItems === undefined) || (mapTask && !parentRunId)) {
    throw new ConfigurationError(
      `${WORKER_ENV.mapTask} and ${WORKER_ENV.mapItems} go together, with ${WORKER_ENV.parentRunId}`,
    );
  }
  if (mapItems !== undefined && parseMapItems(mapItems) === undefined) {
    throw new ConfigurationError(
      `${WORKER_ENV.mapItems} must be <first>-<last> with first <= last, got "${mapItems}"`,
    );
  }
  if (apiUrl !== undefined && !/^https?:\/\//.test(apiUrl)) {
    throw new ConfigurationError(`${WORKER_ENV.apiUrl} must be an http(s) URL`);
  }
  const apiAuth = optional(env, WORKER_EXTRA_ENV.apiAuth);
  if (apiAuth !== undefined && apiAuth !== "sigv4") {
    throw new ConfigurationError(
      `${WORKER_EXTRA_ENV.apiAuth} must be "sigv4" or unset, got "${apiAuth.slice(0, 40)}"`,
    );
  }
  return {
    ...(apiAuth !== undefined ? { apiAuth } : {}),
    ...(parentRunId !== undefined ? { parentRunId } : {}),
    ...(mapTask !== undefined ? { mapTask } : {}),
    ...(mapItems !== undefined ? { mapItems } : {}),
    ...(apiUrl !== undefined ? { apiUrl: apiUrl.replace(/\/+$/, "") } : {}),
  };
}

/** `"3-7"` -> `{ first: 3, last: 7 }`; undefined when malformed. */
export function parseMapItems(value: string): { first: number; last: number } | undefined {
  const match = /^(\d{1,9})-(\d{1,9})$/.exec(value);
  if (!match) return undefined;
  const first = Number(match[1]);
  const last = Number(match[2]);
  return first <= last ? { first, last } : undefined;
}

/**
 * The run id alone, when the full configuration is invalid: the worker still tries to mark
 * that run FAILED with the configuration error.
 */
export function peekRunId(env: Env): string | undefined {
  return optional(env, WORKER_ENV.runId);
}
