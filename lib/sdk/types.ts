/**
 * Public types of the flow SDK and the wire format of `flow_spec.json`.
 * The executor, `dagy build`, the worker and the console all agree on these.
 */

/** JSON value as stored in specs, parameters and run records. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface TaskOptions {
  /** Stable id of the task inside its DAG. Defaults to the task name (`name`, `name_2`, … for repeats). */
  readonly id?: string;
  /** Extra attempts after the first failure. Default 0. */
  readonly retries?: number;
  /** Delay before the first retry, in ms. Default 1000. */
  readonly retryDelayMs?: number;
  /** Multiplier applied to the delay after each retry. Default 2. */
  readonly backoffFactor?: number;
  /** Upper bound of the retry delay, in ms. Default 60000. */
  readonly maxRetryDelayMs?: number;
  /** Per-attempt timeout, in ms; the attempt's AbortSignal fires when it elapses. Default: none. */
  readonly timeoutMs?: number;
}

export interface TaskLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Second argument of every task function. */
export interface TaskContext {
  readonly runId: string;
  readonly taskId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly parameters: Readonly<Record<string, Json>>;
  readonly log: TaskLogger;
  /** Fires on timeout, on cancel, or when the run fails and the abort policy stops running tasks. */
  readonly signal: AbortSignal;
}

export type ParameterType = "string" | "number" | "integer" | "boolean" | "object" | "array";

export interface ParameterDeclaration {
  readonly type?: ParameterType;
  readonly description?: string;
  /** A parameter with a default is optional. */
  readonly default?: Json;
  /** Default: true when there is no default. */
  readonly required?: boolean;
}

/** Options of `dag(name, options, builder)`. */
export interface DagOptions {
  readonly version?: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, ParameterDeclaration>>;
  /** Default parallelism limit of the executor for this DAG. */
  readonly maxParallelism?: number;
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * What the platform does with a run killed for memory: `scale_up` relaunches it on the next
   * larger workload profile; `fail` (default) ends it FAILED. A launch request's `oom_policy`
   * overrides it.
   */
  readonly oomPolicy?: "fail" | "scale_up";
}

/** `flow_spec.json`: everything a worker and a console need without running user code. */
export interface FlowSpec {
  readonly spec_version: 1;
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly parameters: Record<
    string,
    { type?: ParameterType; description?: string; default?: Json; required: boolean }
  >;
  readonly max_parallelism?: number;
  readonly tags?: Record<string, string>;
  readonly oom_policy?: "fail" | "scale_up";
  readonly tasks: ReadonlyArray<{
    readonly id: string;
    /** Name of the task function (several ids may share one). */
    readonly task: string;
    readonly upstream: readonly string[];
    readonly options: {
      retries: number;
      retry_delay_ms: number;
      backoff_factor: number;
      max_retry_delay_ms: number;
      timeout_ms?: number;
    };
    /** The input as written in the flow: references are `{"$ref": "<task id>"}`, templates stay strings. */
    readonly input?: Json;
    /** Set for a mapped task (`task.map(list)`): one instance per item of `input`, the list. */
    readonly map?: MapSpec;
  }>;
  /** `[upstream, downstream]` pairs, sorted. */
  readonly edges: ReadonlyArray<readonly [string, string]>;
}

/**
 * Fargate workload profiles a map's child runs may ask for: the launcher's (lib/launcher/types.ts
 * WORKLOAD_PROFILES) names, repeated here because the SDK imports nothing above it; a test
 * keeps the two equal.
 */
export const MAP_WORKLOAD_PROFILES = [
  "small",
  "medium",
  "large",
  "xlarge",
  "heavy",
  "max",
] as const;
export type MapWorkloadProfile = (typeof MAP_WORKLOAD_PROFILES)[number];

/** The `map` marker of a mapped task in `flow_spec.json`. */
export interface MapSpec {
  /** Where the list comes from: a task's output, or a list written in the flow (its length). */
  readonly over: { readonly task: string } | { readonly length: number };
  /** Most items of this map running at once (always within the run's parallelism). */
  readonly concurrency?: number;
  /** Items run as isolated child runs (the worker launches them when it can reach the API). */
  readonly isolate?: boolean;
  /** Isolated: items per child run. Default 1. */
  readonly items_per_child?: number;
  /** Isolated: the child runs' workload profile. */
  readonly workload_profile?: MapWorkloadProfile;
  readonly tolerated_failure_count?: number;
  readonly tolerated_failure_percentage?: number;
}

/** `metadata.json` inside an artifact. */
export interface ArtifactMetadata {
  readonly name: string;
  readonly version: string;
  readonly built_at: string;
  readonly sdk_version: string;
  readonly bundle_sha256: string;
  /** Path of the bundle inside the artifact, e.g. `flow.js`. */
  readonly entry: string;
  /** The source file the artifact was built from, relative to the working directory. */
  readonly source: string;
}

export type TaskStatus = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";

export interface TaskState {
  status: TaskStatus;
  /** For a mapped task: 0 (its items have attempts; see `map`). */
  attempts: number;
  started_at?: string;
  completed_at?: string;
  duration_ms?: number;
  error?: string;
  /** Set for a mapped task once its list is known: item counts instead of one state per item. */
  map?: MapSummary;
}

/** Most failed items a `MapSummary` lists one by one; the rest are only counted. */
export const MAX_MAP_FAILURES_LISTED = 100;

/**
 * Progress of a mapped task: counts of its items by status (they add up to `total`), and the
 * first `MAX_MAP_FAILURES_LISTED` items that failed for good. Counts, not per-item states, so a
 * 10,000-item map fits in a run record.
 */
export interface MapSummary {
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  /** Not started: the map or the run failed first. */
  skipped: number;
  /** Stopped by a cancel or the `abort-running` policy. */
  cancelled: number;
  /**
   * Items that failed for good, in the order they failed; at most MAX_MAP_FAILURES_LISTED, each
   * error cut to 1,000 characters (the full text is in the item's `task_failed` event).
   */
  failures: MapItemFailure[];
}

export interface MapItemFailure {
  /** Position in the list; the item's task id is `<task id>[<index>]`. */
  index: number;
  attempts: number;
  error: string;
}

export type ExecutorEventType =
  | "run_started"
  | "task_started"
  | "task_succeeded"
  | "task_failed"
  | "task_retrying"
  | "task_skipped"
  | "run_succeeded"
  | "run_failed"
  | "run_cancelled"
  | "task_log";

/** Structured event; the worker writes each as one JSON log line (adding org/flow keys). */
export interface ExecutorEvent {
  readonly event_type: ExecutorEventType;
  readonly timestamp: string;
  readonly run_id: string;
  readonly task_id?: string;
  readonly attempt?: number;
  readonly duration_ms?: number;
  /** Error message (task_failed, task_retrying, run_failed). */
  readonly error?: string;
  /** Full stack of the error, when there is one. */
  readonly stack?: string;
  /** Delay before the next attempt (task_retrying). */
  readonly retry_in_ms?: number;
  /** task_log: level and message of a `ctx.log` call. */
  readonly level?: "info" | "warn" | "error";
  readonly message?: string;
  readonly fields?: Record<string, unknown>;
  /** Events of one item of a mapped task (task_id `square[7]`): the mapped task's id… */
  readonly map_task?: string;
  /** …and the item's position in the list. */
  readonly map_index?: number;
  /** Events of a mapped task itself (started, succeeded, failed): its item counts then. */
  readonly map?: MapSummary;
}

export type RunOutcome = "SUCCEEDED" | "FAILED" | "CANCELLED";

export interface RunResult {
  readonly status: RunOutcome;
  readonly tasks: Record<string, TaskState>;
  /** Outputs of succeeded tasks, by task id. */
  readonly outputs: Record<string, unknown>;
  /** Set when status is FAILED: the first task that failed for good. */
  readonly failedTask?: string;
  readonly error?: Error;
  readonly durationMs: number;
}
