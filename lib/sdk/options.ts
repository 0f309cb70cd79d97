import { DagDefinitionError } from "../errors";
import { MAP_WORKLOAD_PROFILES, type TaskOptions } from "./types";

/** Task options with every default applied; what the executor and `flow_spec.json` use. */
export interface ResolvedTaskOptions {
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly backoffFactor: number;
  readonly maxRetryDelayMs: number;
  /** Absent: no per-attempt timeout. */
  readonly timeoutMs?: number;
}

export const DEFAULT_TASK_OPTIONS: ResolvedTaskOptions = Object.freeze({
  retries: 0,
  retryDelayMs: 1000,
  backoffFactor: 2,
  maxRetryDelayMs: 60_000,
});

/** Largest delay `setTimeout` honours; longer values fire immediately, so they are refused. */
export const MAX_TIMER_MS = 2_147_483_647;

export const TASK_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
export const DAG_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
/** Versions end up in S3 keys (`flows/<flow>/<version>/…`), so the alphabet is restricted. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
/** Parameter names appear in templates (`parameters.<name>`) and as environment variable names. */
export const PARAMETER_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Ids that would collide with `Object.prototype` members in the result records. */
const RESERVED_IDS = new Set(["__proto__", "constructor", "prototype"]);

export function validateTaskId(id: unknown, where: string): string {
  if (typeof id !== "string" || !TASK_ID_PATTERN.test(id) || RESERVED_IDS.has(id)) {
    throw new DagDefinitionError(
      `${where}: invalid task id ${JSON.stringify(id)}; ids are 1-128 characters of A-Z a-z 0-9 _ . - ` +
        `(and not __proto__, constructor or prototype)`,
    );
  }
  return id;
}

export function validateName(kind: "task" | "DAG", name: unknown): string {
  const pattern = kind === "DAG" ? DAG_NAME_PATTERN : TASK_ID_PATTERN;
  if (typeof name !== "string" || !pattern.test(name) || RESERVED_IDS.has(name)) {
    const alphabet = kind === "DAG" ? "A-Z a-z 0-9 _ -" : "A-Z a-z 0-9 _ . -";
    throw new DagDefinitionError(
      `invalid ${kind} name ${JSON.stringify(name)}; names are 1-128 characters of ${alphabet}`,
    );
  }
  return name;
}

function checkNumber(
  where: string,
  field: string,
  value: unknown,
  rule: { integer?: boolean; min: number; max?: number; exclusiveMin?: boolean },
): number {
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (!rule.integer || Number.isInteger(value)) &&
    (rule.exclusiveMin ? value > rule.min : value >= rule.min) &&
    (rule.max === undefined || value <= rule.max);
  if (!ok) {
    const kind = rule.integer ? "an integer" : "a number";
    const bound = rule.exclusiveMin ? `> ${rule.min}` : `>= ${rule.min}`;
    const upper = rule.max === undefined ? "" : ` and <= ${rule.max}`;
    throw new DagDefinitionError(
      `${where}: option ${field} must be ${kind} ${bound}${upper}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const TASK_OPTION_KEYS: ReadonlySet<string> = new Set([
  "id",
  "retries",
  "retryDelayMs",
  "backoffFactor",
  "maxRetryDelayMs",
  "timeoutMs",
]);
const CALL_OPTION_KEYS: ReadonlySet<string> = new Set([...TASK_OPTION_KEYS, "after"]);
const MAP_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...CALL_OPTION_KEYS,
  "concurrency",
  "isolate",
  "itemsPerChild",
  "workloadProfile",
  "toleratedFailureCount",
  "toleratedFailurePercentage",
]);

/** What `task.map(list, options)` adds to call options; see `MapOptions` in task.ts. */
export interface MapOnlyOptions {
  readonly concurrency?: number;
  readonly isolate?: boolean;
  readonly itemsPerChild?: number;
  readonly workloadProfile?: string;
  readonly toleratedFailureCount?: number;
  readonly toleratedFailurePercentage?: number;
}

/** Validates the map-only fields of `task.map` options (the rest by `validateTaskOptions`). */
export function validateMapOptions(where: string, options: MapOnlyOptions): void {
  if (options.concurrency !== undefined) {
    checkNumber(where, "concurrency", options.concurrency, { integer: true, min: 1 });
  }
  if (options.isolate !== undefined && typeof options.isolate !== "boolean") {
    throw new DagDefinitionError(
      `${where}: option isolate must be a boolean, got ${JSON.stringify(options.isolate)}`,
    );
  }
  if (options.itemsPerChild !== undefined) {
    checkNumber(where, "itemsPerChild", options.itemsPerChild, { integer: true, min: 1 });
  }
  if (
    options.workloadProfile !== undefined &&
    !(MAP_WORKLOAD_PROFILES as readonly unknown[]).includes(options.workloadProfile)
  ) {
    throw new DagDefinitionError(
      `${where}: option workloadProfile must be one of ${MAP_WORKLOAD_PROFILES.join(", ")}, got ${JSON.stringify(options.workloadProfile)}`,
    );
  }
  if (
    options.isolate === false &&
    (options.itemsPerChild !== undefined || options.workloadProfile !== undefined)
  ) {
    throw new DagDefinitionError(
      `${where}: itemsPerChild and workloadProfile are for isolated maps; drop isolate: false`,
    );
  }
  if (options.toleratedFailureCount !== undefined) {
    checkNumber(where, "toleratedFailureCount", options.toleratedFailureCount, {
      integer: true,
      min: 0,
    });
  }
  if (options.toleratedFailurePercentage !== undefined) {
    checkNumber(where, "toleratedFailurePercentage", options.toleratedFailurePercentage, {
      min: 0,
      max: 100,
    });
  }
}

/** Validates the option fields that are present; `where` names the task for the message. */
export function validateTaskOptions(
  where: string,
  options: TaskOptions | undefined,
  kind: "task" | "call" | "map",
): TaskOptions {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null) {
    throw new DagDefinitionError(`${where}: options must be an object`);
  }
  // Ordering without data (`after`) only makes sense for one call inside a builder.
  const known =
    kind === "map" ? MAP_OPTION_KEYS : kind === "call" ? CALL_OPTION_KEYS : TASK_OPTION_KEYS;
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new DagDefinitionError(
        `${where}: unknown option ${JSON.stringify(key)}; allowed: ${[...known].join(", ")}`,
      );
    }
  }
  if (options.id !== undefined) validateTaskId(options.id, where);
  if (options.retries !== undefined) {
    checkNumber(where, "retries", options.retries, { integer: true, min: 0, max: 1000 });
  }
  if (options.retryDelayMs !== undefined) {
    checkNumber(where, "retryDelayMs", options.retryDelayMs, { min: 0, max: MAX_TIMER_MS });
  }
  if (options.backoffFactor !== undefined) {
    checkNumber(where, "backoffFactor", options.backoffFactor, { min: 1, max: 1000 });
  }
  if (options.maxRetryDelayMs !== undefined) {
    checkNumber(where, "maxRetryDelayMs", options.maxRetryDelayMs, { min: 0, max: MAX_TIMER_MS });
  }
  if (options.timeoutMs !== undefined) {
    checkNumber(where, "timeoutMs", options.timeoutMs, {
      min: 0,
      exclusiveMin: true,
      max: MAX_TIMER_MS,
    });
  }
  return options;
}

/** Call options override the task's options field by field; defaults fill the rest. */
export function resolveTaskOptions(
  taskOptions: TaskOptions,
  callOptions: TaskOptions,
): ResolvedTaskOptions {
  const timeoutMs = callOptions.timeoutMs ?? taskOptions.timeoutMs;
  const resolved: ResolvedTaskOptions = {
    retries: callOptions.retries ?? taskOptions.retries ?? DEFAULT_TASK_OPTIONS.retries,
    retryDelayMs:
      callOptions.retryDelayMs ?? taskOptions.retryDelayMs ?? DEFAULT_TASK_OPTIONS.retryDelayMs,
    backoffFactor:
      callOptions.backoffFactor ?? taskOptions.backoffFactor ?? DEFAULT_TASK_OPTIONS.backoffFactor,
    maxRetryDelayMs:
      callOptions.maxRetryDelayMs ??
      taskOptions.maxRetryDelayMs ??
      DEFAULT_TASK_OPTIONS.maxRetryDelayMs,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
  return Object.freeze(resolved);
}

/** Delay before retry number `retry` (1 = first retry): delay * factor^(retry-1), capped. */
export function retryDelay(options: ResolvedTaskOptions, retry: number): number {
  const raw = options.retryDelayMs * Math.pow(options.backoffFactor, retry - 1);
  return Math.min(raw, options.maxRetryDelayMs);
}
