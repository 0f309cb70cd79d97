/**
 * The in-process DAG executor: runs each task as soon as everything upstream succeeded, up to
 * a parallelism limit, with retries, per-attempt timeouts, cancellation and structured events.
 *
 * Bookkeeping is O(1) per edge (indegree counters, a ready queue), no timer is created unless
 * a timeout or a retry needs one, and the AbortSignal and logger of a task context are created
 * only when the task reads them. Completions always go through a promise, so a 10,000-long
 * chain of synchronous tasks never grows the stack. The graph comes from `buildPlan` (integer
 * arrays, cached per node list), so a DAG defined in this process is not indexed twice.
 *
 * A mapped task (`task.map`) becomes a `MapRun` once its list is known: its items share the
 * run's slots (and the map's own `concurrency`), each with its own attempts, retries, timeout
 * and events (`square[7]`), while the node's state keeps counts (`MapSummary`) instead of one
 * state per item. Item retries go before new work; new items come after ready tasks.
 */
import { randomUUID } from "node:crypto";
import { DagyError, ValidationError } from "../errors";
import { envNameProblem, envValueProblem } from "./env-names";
import { retryDelay } from "./options";
import { resolveParameters } from "./parameters";
import { isTaskRef } from "./task";
import type { TaskNode } from "./dag";
import { buildPlan } from "./plan";
import { parseTemplate, renderTemplate } from "./template";
import { MAX_MAP_FAILURES_LISTED } from "./types";
import type {
  DagOptions,
  ExecutorEvent,
  Json,
  MapSpec,
  MapSummary,
  RunResult,
  TaskContext,
  TaskLogger,
  TaskState,
} from "./types";

/**
 * What happens to tasks that are running when another task fails for good (after its retries).
 * In both cases no new task starts, tasks not started yet are SKIPPED and the run ends FAILED
 * naming the first task that failed.
 * - `finish-running` (default): running tasks finish and keep their outcome (their failures are
 *   not retried any more); the run ends when the last one settles. Safest for tasks with side
 *   effects half done.
 * - `abort-running`: running tasks' AbortSignals fire, they are marked CANCELLED at once and the
 *   run ends immediately; whatever they do afterwards is ignored.
 */
export type FailurePolicy = "finish-running" | "abort-running";

export const DEFAULT_MAX_PARALLELISM = 8;
export const DEFAULT_FAILURE_POLICY: FailurePolicy = "finish-running";

export interface ExecuteOptions {
  /** Default: a random UUID. */
  readonly runId?: string;
  /** Checked and completed with defaults (`resolveParameters`) before any task runs. */
  readonly parameters?: Record<string, Json>;
  /** Most tasks running at once. Default: the DAG's `maxParallelism`, else 8. */
  readonly maxParallelism?: number;
  /**
   * Cancels the run: running tasks' signals fire, every unfinished task is marked CANCELLED
   * (no per-task events) and the run ends CANCELLED at once with a `run_cancelled` event.
   */
  readonly signal?: AbortSignal;
  /** Receives every event, synchronously. A listener that throws is reported once as a warning. */
  readonly onEvent?: (event: ExecutorEvent) => void;
  /** Default `finish-running`; see `FailurePolicy`. */
  readonly failurePolicy?: FailurePolicy;
  /**
   * Sets each parameter on `process.env` under its upper-cased name (strings as they are,
   * other values as JSON) for the duration of the run, as flows written for the guide's
   * `os.environ.get("OUTPUT_BUCKET")` expect. A parameter is not exported (it still reaches
   * the tasks) when its upper-cased name is not a valid or is a reserved variable name
   * (`lib/sdk/env-names.ts`: `PATH`, `NODE_*`, `LD_*`, `AWS_*`, `DAGY_*`, ...) or its value holds
   * a control character or exceeds 32 KiB: refusing the run instead would break flows whose
   * parameter happens to be called `path` or `home`. Previous values are restored when the run ends, so do not run two such runs at once
   * in one process. Default false; the CLI and the worker turn it on.
   */
  readonly exposeParametersAsEnv?: boolean;
  /**
   * Runs the items of maps marked `isolate: true` outside this process (the worker launches
   * them as child runs). Without it, isolated maps run in-process like any other.
   */
  readonly isolatedMap?: IsolatedMapRunner;
  /**
   * Tasks already done, with their outputs (task id -> output): a resumed or re-run run. They
   * are not executed again; their outputs feed their downstream tasks as if they had just run.
   * A task is taken as done only when all its upstream tasks are too; others run as usual.
   */
  readonly completed?: Readonly<Record<string, unknown>>;
  /**
   * Receives each task's output when it succeeds (a mapped task's: the list of its items'
   * outputs), synchronously, before its downstream tasks start. The worker keeps them so a
   * relaunched attempt can resume. Not called for `completed` tasks.
   */
  readonly onTaskOutput?: (taskId: string, output: unknown) => void;
}

/** How one item of an isolated map ended. */
export type IsolatedItemOutcome =
  { readonly ok: true; readonly output: unknown } | { readonly ok: false; readonly error: string };

export interface IsolatedMapRequest {
  /** The mapped task's id. */
  readonly taskId: string;
  /** Its `map` marker: `items_per_child`, `workload_profile`, … */
  readonly spec: MapSpec;
  /** The resolved list; item i's outcome is reported as `onItem(i, ...)`. */
  readonly items: readonly unknown[];
  /** Fires when the run is cancelled or stops: the runner should cancel what it launched. */
  readonly signal: AbortSignal;
  /** Report each item once, in any order, as it settles; later reports of an item are ignored. */
  readonly onItem: (index: number, outcome: IsolatedItemOutcome) => void;
}

/** Resolves once every item was reported; items never reported then fail. */
export type IsolatedMapRunner = (request: IsolatedMapRequest) => Promise<void>;

/** What the executor needs of a DAG; a `Dag` from any copy of the SDK fits. */
export interface RunnableDag {
  readonly name: string;
  readonly options: Pick<DagOptions, "maxParallelism" | "parameters">;
  readonly nodes: readonly TaskNode[];
}

/** An attempt ran longer than its `timeoutMs`. */
export class TaskTimeoutError extends DagyError {
  constructor(
    readonly taskId: string,
    readonly timeoutMs: number,
  ) {
    super(`task "${taskId}" timed out after ${timeoutMs} ms`);
  }
}

/** Reason of the signals fired by an external cancel. */
export class RunCancelledError extends DagyError {}

/** Reason of the signals fired by the `abort-running` policy. */
export class TaskAbortedError extends DagyError {}

function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === "string") return new Error(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return new Error(`non-Error value thrown: ${text}`);
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Context of one attempt. The signal and logger are made on first use: most tasks never ask. */
class AttemptContext implements TaskContext {
  settled = false;
  timer: NodeJS.Timeout | undefined;
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private logger: TaskLogger | undefined;

  constructor(
    private readonly run: Run,
    readonly index: number,
    readonly taskId: string,
    readonly attempt: number,
    /** The item of a mapped task this attempt runs, if any. */
    readonly map: MapRun | undefined = undefined,
    readonly item = -1,
  ) {}

  get runId(): string {
    return this.run.runId;
  }

  get parameters(): Readonly<Record<string, Json>> {
    return this.run.parameters;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  get log(): TaskLogger {
    this.logger ??= this.run.taskLogger(this.taskId, this.attempt);
    return this.logger;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** Characters kept of a listed failed item's error (the full text is in its task_failed event). */
const MAX_LISTED_ERROR_CHARS = 1000;

/** A mapped task whose list is known: its items, their outputs and counts. */
class MapRun {
  readonly summary: MapSummary;
  readonly outputs: unknown[];
  /** Attempts so far and first start time, per item. */
  readonly attempts: Int32Array;
  readonly firstStart: Float64Array;
  /** Running attempts by item. */
  readonly current = new Map<number, AttemptContext>();
  readonly retryTimers = new Map<number, NodeJS.Timeout>();
  readonly lastError = new Map<number, Error>();
  /** Next item to start for the first time. */
  next = 0;
  running = 0;
  /** More items failed than tolerated: no new item starts and the map will fail. */
  breach: Error | undefined;
  finished = false;
  /** An isolated map: its items run elsewhere; this aborts them. */
  isolated: AbortController | undefined;
  /** An isolated map: 1 for each item already reported. */
  reported: Uint8Array | undefined;

  constructor(
    readonly index: number,
    readonly id: string,
    readonly items: readonly unknown[],
    readonly concurrency: number,
    /** Most items that may fail with the map still succeeding. */
    readonly tolerated: number,
    summary: MapSummary,
  ) {
    const n = items.length;
    this.summary = summary;
    this.outputs = new Array<unknown>(n).fill(null);
    this.attempts = new Int32Array(n);
    this.firstStart = new Float64Array(n);
  }

  /** True while an item may still start (now or after a retry delay). */
  get hasWork(): boolean {
    return this.running > 0 || this.retryTimers.size > 0 || this.next < this.items.length;
  }
}

/** Items that may fail: the smaller of the count and the percentage of `total`; default 0. */
function toleratedFailures(spec: MapSpec, total: number): number {
  const count = spec.tolerated_failure_count;
  const percentage = spec.tolerated_failure_percentage;
  if (count === undefined && percentage === undefined) return 0;
  const byPercentage =
    percentage === undefined ? Infinity : Math.floor((total * percentage) / 100 + 1e-9);
  return Math.min(count ?? Infinity, byPercentage);
}

function copySummary(summary: MapSummary): MapSummary {
  return { ...summary, failures: summary.failures.slice() };
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

class Run {
  readonly runId: string;
  readonly parameters: Readonly<Record<string, Json>>;
  private readonly nodes: readonly TaskNode[];
  private readonly limit: number;
  private readonly policy: FailurePolicy;
  private readonly onEvent: ((event: ExecutorEvent) => void) | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly exposeEnv: boolean;
  private readonly isolatedMap: IsolatedMapRunner | undefined;
  private readonly onTaskOutput: ((taskId: string, output: unknown) => void) | undefined;

  private readonly states: TaskState[];
  private readonly tasks: Record<string, TaskState> = {};
  private readonly outputs: Record<string, unknown> = {};
  private readonly waitingOn: Int32Array;
  private readonly downstreamStart: Int32Array;
  private readonly downstream: Int32Array;
  private readonly firstStart: Float64Array;
  private readonly current: Array<AttemptContext | undefined>;
  private readonly lastError: Array<Error | undefined>;
  private readonly retryTimers = new Map<number, NodeJS.Timeout>();
  /** Attempts in flight; `current` holds their contexts (scanned only when aborting). */
  private running = 0;

  private readonly ready: number[] = [];
  private readyHead = 0;
  private readonly retryReady: number[] = [];
  private retryHead = 0;
  /** Items of mapped tasks due for a retry. */
  private readonly itemRetryReady: Array<{ map: MapRun; item: number }> = [];
  private itemRetryHead = 0;
  /** Mapped tasks with items never started yet, in the order they became ready. */
  private readonly openMaps: MapRun[] = [];
  /** Every mapped task started and not yet finished. */
  private readonly maps = new Set<MapRun>();
  private remaining: number;

  private stopping = false;
  private failedIndex = -1;
  private failure: Error | undefined;
  private cancelled = false;
  private finished = false;
  private startedAt = 0;
  private resolveRun!: (result: RunResult) => void;
  private savedEnv: Array<[string, string | undefined]> = [];
  private listenerFailed = false;
  private lastStampMs = -1;
  private lastStamp = "";

  constructor(dag: RunnableDag, parameters: Record<string, Json>, options: ExecuteOptions) {
    this.runId = options.runId ?? randomUUID();
    this.parameters = Object.freeze(parameters);
    this.nodes = dag.nodes;
    this.limit = options.maxParallelism ?? dag.options.maxParallelism ?? DEFAULT_MAX_PARALLELISM;
    this.policy = options.failurePolicy ?? DEFAULT_FAILURE_POLICY;
    this.onEvent = options.onEvent;
    this.signal = options.signal;
    this.exposeEnv = options.exposeParametersAsEnv ?? false;
    this.isolatedMap = options.isolatedMap;
    this.onTaskOutput = options.onTaskOutput;

    const n = this.nodes.length;
    this.remaining = n;
    this.states = new Array<TaskState>(n);
    this.firstStart = new Float64Array(n);
    this.current = new Array<AttemptContext | undefined>(n);
    this.lastError = new Array<Error | undefined>(n);
    for (let i = 0; i < n; i++) {
      const state: TaskState = { status: "PENDING", attempts: 0 };
      this.states[i] = state;
      this.tasks[this.nodes[i]!.id] = state;
    }
    const plan = buildPlan(this.nodes);
    if ("unknownUpstream" in plan) {
      const { node, upstream } = plan.unknownUpstream;
      throw new ValidationError(
        `DAG "${dag.name}": task "${node}" depends on unknown task "${upstream}"`,
      );
    }
    if ("cycle" in plan) {
      // Only a hand-made RunnableDag can have one; its tasks would wait for each other forever.
      throw new ValidationError(
        `DAG "${dag.name}" has a cycle through tasks: ${plan.cycle.join(", ")}`,
      );
    }
    this.waitingOn = plan.upstreamCount.slice();
    this.downstreamStart = plan.downstreamStart;
    this.downstream = plan.downstream;
    const completed = options.completed;
    if (completed === undefined || Object.keys(completed).length === 0) {
      for (let i = 0; i < n; i++) if (this.waitingOn[i] === 0) this.ready.push(i);
    } else {
      this.seedCompleted(completed);
    }
  }

  /**
   * Marks the given tasks SUCCEEDED with their outputs, from the roots down: a task counts as
   * done only when its upstream tasks did, so its downstream bookkeeping stays exact.
   */
  private seedCompleted(completed: Readonly<Record<string, unknown>>): void {
    const n = this.nodes.length;
    const queue: number[] = [];
    for (let i = 0; i < n; i++) if (this.waitingOn[i] === 0) queue.push(i);
    for (let head = 0; head < queue.length; head++) {
      const i = queue[head]!;
      const id = this.nodes[i]!.id;
      if (!Object.prototype.hasOwnProperty.call(completed, id)) {
        this.ready.push(i);
        continue;
      }
      this.states[i]!.status = "SUCCEEDED";
      this.outputs[id] = completed[id];
      this.remaining--;
      const end = this.downstreamStart[i + 1]!;
      for (let k = this.downstreamStart[i]!; k < end; k++) {
        const j = this.downstream[k]!;
        if (--this.waitingOn[j]! === 0) queue.push(j);
      }
    }
  }

  start(): Promise<RunResult> {
    const done = new Promise<RunResult>((resolve) => (this.resolveRun = resolve));
    this.startedAt = Date.now();
    if (this.exposeEnv) this.setEnv();
    this.emit({ event_type: "run_started", timestamp: this.stamp(), run_id: this.runId });
    if (this.signal?.aborted) {
      this.cancel(this.signal.reason);
    } else {
      this.signal?.addEventListener("abort", this.onAbort, { once: true });
      this.pump();
      this.checkDone(); // a DAG without nodes (hand-made RunnableDag) ends here
    }
    return done;
  }

  private readonly onAbort = (): void => this.cancel(this.signal?.reason);

  /** ISO timestamp, cached per millisecond: formatting dominated the per-event cost. */
  private stamp(ms = Date.now()): string {
    if (ms !== this.lastStampMs) {
      this.lastStampMs = ms;
      this.lastStamp = new Date(ms).toISOString();
    }
    return this.lastStamp;
  }

  private emit(event: ExecutorEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch (error) {
      if (!this.listenerFailed) {
        this.listenerFailed = true;
        process.emitWarning(
          `dagy: the onEvent listener threw (${toError(error).message}); later errors are not reported`,
        );
      }
    }
  }

  private reportOutput(taskId: string, output: unknown): void {
    if (this.onTaskOutput === undefined) return;
    try {
      this.onTaskOutput(taskId, output);
    } catch (error) {
      process.emitWarning(
        `dagy: onTaskOutput threw for task "${taskId}": ${toError(error).message}`,
      );
    }
  }

  taskLogger(taskId: string, attempt: number): TaskLogger {
    const log =
      (level: "info" | "warn" | "error") =>
      (message: string, fields?: Record<string, unknown>): void => {
        this.emit({
          event_type: "task_log",
          timestamp: this.stamp(),
          run_id: this.runId,
          task_id: taskId,
          attempt,
          level,
          message,
          ...(fields === undefined ? {} : { fields }),
        });
      };
    return { info: log("info"), warn: log("warn"), error: log("error") };
  }

  private pump(): void {
    while (this.running < this.limit && !this.stopping) {
      if (this.retryHead < this.retryReady.length) {
        this.startAttempt(this.retryReady[this.retryHead++]!);
      } else if (this.itemRetryHead < this.itemRetryReady.length) {
        const { map, item } = this.itemRetryReady[this.itemRetryHead++]!;
        this.startItem(map, item);
      } else if (this.readyHead < this.ready.length) {
        const i = this.ready[this.readyHead++]!;
        // Starting a map takes no slot: its items do.
        if (this.nodes[i]!.map === undefined) this.startAttempt(i);
        else this.startMap(i);
      } else if (!this.startNextItem()) {
        return;
      }
    }
  }

  /** Starts the next item of the first open map below its own concurrency; false if none. */
  private startNextItem(): boolean {
    for (let k = 0; k < this.openMaps.length; k++) {
      const map = this.openMaps[k]!;
      if (map.next >= map.items.length || map.breach !== undefined) {
        this.openMaps.splice(k--, 1);
        continue;
      }
      if (map.running >= map.concurrency) continue;
      this.startItem(map, map.next++);
      return true;
    }
    return false;
  }

  /** A mapped task whose upstream succeeded: resolve its list and open it for its items. */
  private startMap(i: number): void {
    const node = this.nodes[i]!;
    const spec = node.map!;
    const state = this.states[i]!;
    const now = Date.now();
    state.status = "RUNNING";
    state.started_at = this.stamp(now);
    this.firstStart[i] = now;
    let list: unknown;
    try {
      list = node.dynamicInput ? this.resolveInput(node.input, 0) : node.input;
    } catch (error) {
      list = error;
    }
    if (!Array.isArray(list)) {
      const from = "task" in spec.over ? `the output of task "${spec.over.task}"` : "its list";
      const error =
        list instanceof Error
          ? list
          : new ValidationError(
              `map "${node.id}": ${from} must be an array, got ${describeValue(list)}`,
            );
      this.emit({
        event_type: "task_started",
        timestamp: state.started_at,
        run_id: this.runId,
        task_id: node.id,
      });
      this.failNode(i, error);
      this.checkDone();
      return;
    }
    const summary: MapSummary = {
      total: list.length,
      pending: list.length,
      running: 0,
      succeeded: 0,
      failed: 0,
      skipped: 0,
      cancelled: 0,
      failures: [],
    };
    state.map = summary;
    const map = new MapRun(
      i,
      node.id,
      list,
      spec.concurrency ?? Infinity,
      toleratedFailures(spec, list.length),
      summary,
    );
    this.maps.add(map);
    this.emit({
      event_type: "task_started",
      timestamp: state.started_at,
      run_id: this.runId,
      task_id: node.id,
      map: copySummary(summary),
    });
    if (list.length === 0) {
      this.finishMap(map);
      this.checkDone();
    } else if (spec.isolate === true && this.isolatedMap !== undefined) {
      this.startIsolated(map, this.isolatedMap);
    } else {
      this.openMaps.push(map);
    }
  }

  /**
   * An isolated map: every item is handed to the runner at once (it paces the launches) and
   * counts as running until reported. Items take no slot of this run: they run elsewhere.
   */
  private startIsolated(map: MapRun, runner: IsolatedMapRunner): void {
    const total = map.items.length;
    const controller = new AbortController();
    map.isolated = controller;
    map.reported = new Uint8Array(total);
    map.next = total;
    map.running = total;
    map.firstStart.fill(Date.now());
    map.attempts.fill(1);
    map.summary.pending = 0;
    map.summary.running = total;
    const onItem = (index: number, outcome: IsolatedItemOutcome): void => {
      if (map.finished || controller.signal.aborted) return;
      if (!Number.isInteger(index) || index < 0 || index >= total || map.reported![index]) return;
      map.reported![index] = 1;
      map.running--;
      if (outcome.ok) {
        map.outputs[index] = outcome.output;
        map.summary.running--;
        map.summary.succeeded++;
        this.emit({
          event_type: "task_succeeded",
          timestamp: this.stamp(),
          run_id: this.runId,
          task_id: `${map.id}[${index}]`,
          attempt: 1,
          duration_ms: Date.now() - map.firstStart[index]!,
          map_task: map.id,
          map_index: index,
        });
      } else {
        this.failItem(map, index, new Error(outcome.error));
      }
      this.afterItem(map);
    };
    const unreported = (why: string): void => {
      for (let i = 0; i < total; i++) {
        if (!map.reported![i]) onItem(i, { ok: false, error: why });
      }
    };
    let started: Promise<void>;
    try {
      started = Promise.resolve(
        runner({
          taskId: map.id,
          spec: this.nodes[map.index]!.map!,
          items: map.items,
          signal: controller.signal,
          onItem,
        }),
      );
    } catch (error) {
      started = Promise.reject(toError(error));
    }
    started.then(
      () => unreported(`map "${map.id}": the item's child run ended without an outcome`),
      (error: unknown) => unreported(`map "${map.id}": ${toError(error).message}`),
    );
  }

  /** An isolated map stops: its unreported items are cancelled and the runner told so. */
  private cancelIsolated(map: MapRun, reason: unknown): void {
    const controller = map.isolated;
    if (controller === undefined || controller.signal.aborted) return;
    for (let i = 0; i < map.items.length; i++) {
      if (map.reported![i]) continue;
      map.reported![i] = 1;
      map.running--;
      map.summary.running--;
      map.summary.cancelled++;
    }
    controller.abort(reason);
  }

  private startItem(map: MapRun, item: number): void {
    const node = this.nodes[map.index]!;
    const now = Date.now();
    const attempt = ++map.attempts[item]!;
    if (attempt === 1) {
      map.summary.pending--;
      map.summary.running++;
      map.firstStart[item] = now;
    }
    const taskId = `${map.id}[${item}]`;
    const ctx = new AttemptContext(this, map.index, taskId, attempt, map, item);
    map.current.set(item, ctx);
    map.running++;
    this.running++;
    this.emit({
      event_type: "task_started",
      timestamp: this.stamp(now),
      run_id: this.runId,
      task_id: taskId,
      attempt,
      map_task: map.id,
      map_index: item,
    });
    this.invoke(ctx, node, map.items[item]);
  }

  private startAttempt(i: number): void {
    const node = this.nodes[i]!;
    const state = this.states[i]!;
    const now = Date.now();
    const attempt = ++state.attempts;
    if (attempt === 1) {
      state.status = "RUNNING";
      state.started_at = this.stamp(now);
      this.firstStart[i] = now;
    }
    const ctx = new AttemptContext(this, i, node.id, attempt);
    this.current[i] = ctx;
    this.running++;
    this.emit({
      event_type: "task_started",
      timestamp: this.stamp(now),
      run_id: this.runId,
      task_id: node.id,
      attempt,
    });
    let input: unknown;
    try {
      input = node.dynamicInput ? this.resolveInput(node.input, 0) : node.input;
    } catch (error) {
      this.invoke(ctx, node, undefined, toError(error));
      return;
    }
    this.invoke(ctx, node, input);
  }

  /** Calls the task function; its outcome (or `thrown`) settles the attempt through a promise. */
  private invoke(ctx: AttemptContext, node: TaskNode, input: unknown, thrown?: Error): void {
    let result: unknown;
    // Failures go through a promise like any other outcome: settling synchronously would recurse.
    if (thrown !== undefined) {
      result = Promise.reject(thrown);
    } else {
      try {
        result = (node.fn as (input: unknown, ctx: TaskContext) => unknown)(input, ctx);
      } catch (error) {
        result = Promise.reject(toError(error));
      }
    }
    const timeoutMs = node.options.timeoutMs;
    // Settled already when the task itself cancelled the run synchronously.
    if (timeoutMs !== undefined && !ctx.settled) {
      ctx.timer = setTimeout(() => {
        const error = new TaskTimeoutError(ctx.taskId, timeoutMs);
        ctx.abort(error);
        this.onAttemptFailed(ctx, error);
      }, timeoutMs);
    }
    Promise.resolve(result).then(
      (value) => this.onAttemptSucceeded(ctx, value),
      (error) => this.onAttemptFailed(ctx, error),
    );
  }

  /** References become upstream outputs; templates their values. Containers are copied. */
  private resolveInput(value: unknown, depth: number): unknown {
    if (typeof value === "string") {
      const parsed = parseTemplate(value);
      return parsed === undefined ? value : renderTemplate(parsed, this.parameters, this.runId);
    }
    if (typeof value !== "object" || value === null || depth > 64) return value;
    if (isTaskRef(value)) return this.outputs[value.taskId];
    if (Array.isArray(value)) return value.map((v) => this.resolveInput(v, depth + 1));
    if (!isPlainObject(value)) return value;
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      copy[key] = this.resolveInput((value as Record<string, unknown>)[key], depth + 1);
    }
    return copy;
  }

  /** Marks the attempt settled; false when it already was (timed out, cancelled, aborted). */
  private settle(ctx: AttemptContext): boolean {
    if (ctx.settled) return false;
    const map = ctx.map;
    if (map === undefined) {
      if (this.current[ctx.index] !== ctx) return false;
      this.current[ctx.index] = undefined;
    } else {
      if (map.current.get(ctx.item) !== ctx) return false;
      map.current.delete(ctx.item);
      map.running--;
    }
    ctx.settled = true;
    if (ctx.timer !== undefined) clearTimeout(ctx.timer);
    this.running--;
    return true;
  }

  private onAttemptSucceeded(ctx: AttemptContext, value: unknown): void {
    if (!this.settle(ctx)) return;
    if (ctx.map !== undefined) {
      this.onItemSucceeded(ctx, ctx.map, value);
      return;
    }
    const i = ctx.index;
    const state = this.states[i]!;
    const now = Date.now();
    const duration = now - this.firstStart[i]!;
    state.status = "SUCCEEDED";
    state.completed_at = this.stamp(now);
    state.duration_ms = duration;
    this.outputs[ctx.taskId] = value;
    this.reportOutput(ctx.taskId, value);
    this.emit({
      event_type: "task_succeeded",
      timestamp: state.completed_at,
      run_id: this.runId,
      task_id: ctx.taskId,
      attempt: ctx.attempt,
      duration_ms: duration,
    });
    this.remaining--;
    this.release(i);
    this.checkDone();
  }

  /** Node i succeeded: its downstream tasks whose upstream all succeeded become ready. */
  private release(i: number): void {
    if (!this.stopping) {
      const end = this.downstreamStart[i + 1]!;
      for (let k = this.downstreamStart[i]!; k < end; k++) {
        const j = this.downstream[k]!;
        if (--this.waitingOn[j]! === 0) this.ready.push(j);
      }
      this.pump();
    }
  }

  private onItemSucceeded(ctx: AttemptContext, map: MapRun, value: unknown): void {
    const item = ctx.item;
    const duration = Date.now() - map.firstStart[item]!;
    map.lastError.delete(item);
    map.outputs[item] = value;
    map.summary.running--;
    map.summary.succeeded++;
    this.emit({
      event_type: "task_succeeded",
      timestamp: this.stamp(),
      run_id: this.runId,
      task_id: ctx.taskId,
      attempt: ctx.attempt,
      duration_ms: duration,
      map_task: map.id,
      map_index: item,
    });
    this.afterItem(map);
  }

  /** After an item settled for good: finish the map when nothing is left, start more items. */
  private afterItem(map: MapRun): void {
    if (!map.hasWork) this.finishMap(map);
    else this.pump();
    this.checkDone();
  }

  private onAttemptFailed(ctx: AttemptContext, thrown: unknown): void {
    if (!this.settle(ctx)) return;
    if (ctx.map !== undefined) {
      this.onItemFailed(ctx, ctx.map, toError(thrown));
      return;
    }
    const i = ctx.index;
    const node = this.nodes[i]!;
    const error = toError(thrown);
    this.lastError[i] = error;
    const retry = ctx.attempt; // the retry about to be scheduled, 1-based
    if (!this.stopping && retry <= node.options.retries) {
      const delay = retryDelay(node.options, retry);
      this.emit({
        event_type: "task_retrying",
        timestamp: this.stamp(),
        run_id: this.runId,
        task_id: node.id,
        attempt: ctx.attempt,
        error: error.message,
        ...(error.stack === undefined ? {} : { stack: error.stack }),
        retry_in_ms: delay,
      });
      // The task gives up its slot while it waits, and gets one before new tasks when due.
      this.retryTimers.set(
        i,
        setTimeout(() => {
          this.retryTimers.delete(i);
          this.retryReady.push(i);
          this.pump();
        }, delay),
      );
      this.pump();
      return;
    }
    this.failNode(i, error);
    this.checkDone();
  }

  /** Node i failed for good: recorded, and the run stops if it is the first failure. */
  private failNode(i: number, error: Error, summary?: MapSummary): void {
    this.failTask(i, error, summary);
    if (this.failedIndex === -1) {
      this.failedIndex = i;
      this.failure = error;
      this.stopAfterFailure();
    }
  }

  private onItemFailed(ctx: AttemptContext, map: MapRun, error: Error): void {
    const node = this.nodes[map.index]!;
    const item = ctx.item;
    map.lastError.set(item, error);
    if (!this.stopping && map.breach === undefined && ctx.attempt <= node.options.retries) {
      const delay = retryDelay(node.options, ctx.attempt);
      this.emit({
        event_type: "task_retrying",
        timestamp: this.stamp(),
        run_id: this.runId,
        task_id: ctx.taskId,
        attempt: ctx.attempt,
        error: error.message,
        ...(error.stack === undefined ? {} : { stack: error.stack }),
        retry_in_ms: delay,
        map_task: map.id,
        map_index: item,
      });
      map.retryTimers.set(
        item,
        setTimeout(() => {
          map.retryTimers.delete(item);
          this.itemRetryReady.push({ map, item });
          this.pump();
        }, delay),
      );
      this.pump();
      return;
    }
    this.failItem(map, item, error);
    this.afterItem(map);
  }

  private failItem(map: MapRun, item: number, error: Error): void {
    const summary = map.summary;
    summary.running--;
    summary.failed++;
    if (summary.failures.length < MAX_MAP_FAILURES_LISTED) {
      const message =
        error.message.length > MAX_LISTED_ERROR_CHARS
          ? `${error.message.slice(0, MAX_LISTED_ERROR_CHARS)}…[truncated]`
          : error.message;
      summary.failures.push({ index: item, attempts: map.attempts[item]!, error: message });
    }
    map.lastError.delete(item);
    this.emit({
      event_type: "task_failed",
      timestamp: this.stamp(),
      run_id: this.runId,
      task_id: `${map.id}[${item}]`,
      attempt: map.attempts[item]!,
      duration_ms: Date.now() - map.firstStart[item]!,
      error: error.message,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      map_task: map.id,
      map_index: item,
    });
    if (summary.failed > map.tolerated && map.breach === undefined) {
      const first = summary.failures[0];
      map.breach = new Error(
        `map "${map.id}": ${summary.failed} of ${summary.total} items failed, more than the ` +
          `${map.tolerated} tolerated` +
          (first === undefined ? "" : `; first: ${map.id}[${first.index}]: ${first.error}`),
      );
      this.stopMap(map);
      // Like any task failing for good: the run stops now; the map's running items follow the
      // failure policy, and the map itself fails once they have settled.
      if (this.failedIndex === -1) {
        this.failedIndex = map.index;
        this.failure = map.breach;
        this.stopAfterFailure();
      }
    }
  }

  /** No item of `map` starts any more: those never started are skipped, retries are dropped. */
  private stopMap(map: MapRun): void {
    // Children still running elsewhere are cancelled: nothing would join their outputs.
    this.cancelIsolated(map, map.breach ?? new TaskAbortedError("the run stopped"));
    map.summary.skipped += map.summary.pending;
    map.summary.pending = 0;
    map.next = map.items.length;
    for (const [item, timer] of map.retryTimers) {
      clearTimeout(timer);
      map.retryTimers.delete(item);
      this.failItem(map, item, map.lastError.get(item) ?? new Error("retry dropped"));
    }
  }

  /** Every item has settled: the map succeeds, fails (tolerance exceeded) or is cancelled. */
  private finishMap(map: MapRun): void {
    if (map.finished) return;
    map.finished = true;
    this.maps.delete(map);
    const i = map.index;
    const summary = map.summary;
    if (map.breach !== undefined) {
      this.failNode(i, map.breach, copySummary(summary));
      return;
    }
    const state = this.states[i]!;
    const now = Date.now();
    const duration = now - this.firstStart[i]!;
    state.completed_at = this.stamp(now);
    state.duration_ms = duration;
    this.remaining--;
    if (summary.skipped > 0 || summary.cancelled > 0) {
      // The run stopped (another task failed) before every item ran.
      state.status = "CANCELLED";
      state.error = `stopped after ${summary.succeeded + summary.failed} of ${summary.total} items: the run failed`;
      return;
    }
    state.status = "SUCCEEDED";
    this.outputs[map.id] = map.outputs;
    this.reportOutput(map.id, map.outputs);
    this.emit({
      event_type: "task_succeeded",
      timestamp: state.completed_at,
      run_id: this.runId,
      task_id: map.id,
      attempt: 0,
      duration_ms: duration,
      map: copySummary(summary),
    });
    this.release(i);
  }

  private failTask(i: number, error: Error, summary?: MapSummary): void {
    const state = this.states[i]!;
    const now = Date.now();
    const duration = now - this.firstStart[i]!;
    state.status = "FAILED";
    state.error = error.message;
    state.completed_at = this.stamp(now);
    state.duration_ms = duration;
    this.remaining--;
    this.emit({
      event_type: "task_failed",
      timestamp: state.completed_at,
      run_id: this.runId,
      task_id: this.nodes[i]!.id,
      attempt: state.attempts,
      duration_ms: duration,
      error: error.message,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      ...(summary === undefined ? {} : { map: summary }),
    });
  }

  private stopAfterFailure(): void {
    this.stopping = true;
    const failedId = this.nodes[this.failedIndex]!.id;
    // Tasks waiting for a retry will not get it: their last failure stands.
    for (const [i, timer] of this.retryTimers) {
      clearTimeout(timer);
      this.failTask(i, this.lastError[i]!);
    }
    this.retryTimers.clear();
    for (const map of this.maps) this.stopMap(map);
    const downstreamOfFailed = this.descendants(this.failedIndex);
    const stamp = this.stamp();
    for (let i = 0; i < this.nodes.length; i++) {
      const state = this.states[i]!;
      if (state.status !== "PENDING") continue;
      state.status = "SKIPPED";
      state.completed_at = stamp;
      this.remaining--;
      this.emit({
        event_type: "task_skipped",
        timestamp: stamp,
        run_id: this.runId,
        task_id: this.nodes[i]!.id,
        message: downstreamOfFailed.has(i)
          ? `upstream task "${failedId}" failed`
          : `not started: the run failed (task "${failedId}")`,
      });
    }
    if (this.policy === "abort-running") {
      this.abortRunning(
        new TaskAbortedError(`aborted: task "${failedId}" failed and the run stopped`),
        "CANCELLED",
      );
    }
    for (const map of [...this.maps]) if (!map.hasWork) this.finishMap(map);
  }

  private descendants(from: number): Set<number> {
    const seen = new Set<number>();
    const stack = [from];
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (let k = this.downstreamStart[i]!; k < this.downstreamStart[i + 1]!; k++) {
        const j = this.downstream[k]!;
        if (!seen.has(j)) {
          seen.add(j);
          stack.push(j);
        }
      }
    }
    return seen;
  }

  private abortRunning(reason: Error, status: "CANCELLED"): void {
    const stamp = this.stamp();
    for (let i = 0; i < this.current.length; i++) {
      const ctx = this.current[i];
      if (ctx === undefined) continue;
      this.settle(ctx);
      ctx.abort(reason);
      const state = this.states[i]!;
      state.status = status;
      state.error = reason.message;
      state.completed_at = stamp;
      state.duration_ms = Date.now() - this.firstStart[i]!;
      this.remaining--;
    }
    for (const map of this.maps) {
      this.cancelIsolated(map, reason);
      for (const ctx of [...map.current.values()]) {
        this.settle(ctx);
        ctx.abort(reason);
        map.summary.running--;
        map.summary.cancelled++;
      }
    }
  }

  private cancel(reason: unknown): void {
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    this.stopping = true;
    const error = new RunCancelledError(`run ${this.runId} was cancelled`, { cause: reason });
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
    for (const map of this.maps) {
      for (const timer of map.retryTimers.values()) clearTimeout(timer);
      const summary = map.summary;
      // Items waiting for a retry or never started are cancelled with the run.
      summary.cancelled += map.retryTimers.size + summary.pending;
      summary.running -= map.retryTimers.size;
      summary.pending = 0;
      map.retryTimers.clear();
      map.next = map.items.length;
    }
    this.abortRunning(error, "CANCELLED");
    const stamp = this.stamp();
    for (const state of this.states) {
      if (state.status === "PENDING" || state.status === "RUNNING") {
        state.status = "CANCELLED";
        state.completed_at = stamp;
        this.remaining--;
      }
    }
    this.checkDone();
  }

  private checkDone(): void {
    if (this.remaining > 0 || this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.restoreEnv();
    const durationMs = Date.now() - this.startedAt;
    const base = { timestamp: this.stamp(), run_id: this.runId, duration_ms: durationMs };
    let result: RunResult;
    if (this.failure !== undefined) {
      const taskId = this.nodes[this.failedIndex]!.id;
      this.emit({
        event_type: "run_failed",
        ...base,
        task_id: taskId,
        error: this.failure.message,
      });
      result = {
        status: "FAILED",
        tasks: this.tasks,
        outputs: this.outputs,
        failedTask: taskId,
        error: this.failure,
        durationMs,
      };
    } else if (this.cancelled) {
      this.emit({ event_type: "run_cancelled", ...base });
      const error = new RunCancelledError(`run ${this.runId} was cancelled`, {
        cause: this.signal?.reason,
      });
      result = { status: "CANCELLED", tasks: this.tasks, outputs: this.outputs, error, durationMs };
    } else {
      this.emit({ event_type: "run_succeeded", ...base });
      result = { status: "SUCCEEDED", tasks: this.tasks, outputs: this.outputs, durationMs };
    }
    this.resolveRun(result);
  }

  private setEnv(): void {
    for (const [name, value] of Object.entries(this.parameters)) {
      const key = name.toUpperCase();
      const text = typeof value === "string" ? value : JSON.stringify(value);
      // Skipped, not refused: the parameter still reaches the tasks; only its variable is not set.
      if (envNameProblem(key) !== undefined || envValueProblem(text) !== undefined) continue;
      this.savedEnv.push([key, process.env[key]]);
      process.env[key] = text;
    }
  }

  private restoreEnv(): void {
    for (const [key, previous] of this.savedEnv.reverse()) {
      if (previous === undefined) delete process.env[key];
      else process.env[key] = previous;
    }
    this.savedEnv = [];
  }
}

/**
 * Runs a DAG in this process and resolves with the outcome; task failures never reject (the
 * result is FAILED). Rejects with `ValidationError`, before any task runs, when the parameters
 * do not match the declarations, a template names a parameter the run lacks, or an option is
 * invalid.
 */
export async function runDag(dag: RunnableDag, options: ExecuteOptions = {}): Promise<RunResult> {
  if (!Array.isArray(dag?.nodes) || typeof dag.name !== "string") {
    throw new ValidationError("runDag: expected a Dag made by dag()", "dag");
  }
  const limit = options.maxParallelism;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new ValidationError(
      `maxParallelism must be an integer >= 1, got ${JSON.stringify(limit)}`,
      "maxParallelism",
    );
  }
  const policy = options.failurePolicy;
  if (policy !== undefined && policy !== "finish-running" && policy !== "abort-running") {
    throw new ValidationError(
      `failurePolicy must be "finish-running" or "abort-running", got ${JSON.stringify(policy)}`,
      "failurePolicy",
    );
  }
  if (options.runId !== undefined && (typeof options.runId !== "string" || options.runId === "")) {
    throw new ValidationError("runId must be a non-empty string", "runId");
  }
  const parameters = resolveParameters(dag, options.parameters ?? {});
  const nodes: readonly TaskNode[] = dag.nodes;
  for (const node of nodes) {
    for (const name of node.parameterNames) {
      if (!Object.prototype.hasOwnProperty.call(parameters, name)) {
        throw new ValidationError(
          `task "${node.id}" uses parameter "${name}" in a template, but the run has no ` +
            `parameter "${name}"`,
          `parameters.${name}`,
        );
      }
    }
  }
  return new Run(dag, parameters, options).start();
}
