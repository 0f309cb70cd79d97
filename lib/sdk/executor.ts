/**
 * The in-process DAG executor: runs each task as soon as everything upstream succeeded, up to
 * a parallelism limit, with retries, per-attempt timeouts, cancellation and structured events.
 *
 * Bookkeeping is O(1) per edge (indegree counters, a ready queue), no timer is created unless
 * a timeout or a retry needs one, and the AbortSignal and logger of a task context are created
 * only when the task reads them. Completions always go through a promise, so a 10,000-long
 * chain of synchronous tasks never grows the stack.
 */
import { randomUUID } from "node:crypto";
import { DagyError, ValidationError } from "../errors";
import { envNameProblem, envValueProblem } from "./env-names";
import { retryDelay } from "./options";
import { resolveParameters } from "./parameters";
import { isTaskRef } from "./task";
import type { TaskNode } from "./dag";
import { parseTemplate, renderTemplate } from "./template";
import type {
  DagOptions,
  ExecutorEvent,
  Json,
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
}

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

class Run {
  readonly runId: string;
  readonly parameters: Readonly<Record<string, Json>>;
  private readonly nodes: readonly TaskNode[];
  private readonly limit: number;
  private readonly policy: FailurePolicy;
  private readonly onEvent: ((event: ExecutorEvent) => void) | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly exposeEnv: boolean;

  private readonly states: TaskState[];
  private readonly tasks: Record<string, TaskState> = {};
  private readonly outputs: Record<string, unknown> = {};
  private readonly waitingOn: Int32Array;
  private readonly downstream: number[][];
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

    const n = this.nodes.length;
    this.remaining = n;
    this.states = new Array<TaskState>(n);
    this.waitingOn = new Int32Array(n);
    this.downstream = new Array<number[]>(n);
    this.firstStart = new Float64Array(n);
    this.current = new Array<AttemptContext | undefined>(n);
    this.lastError = new Array<Error | undefined>(n);
    const index = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const node = this.nodes[i]!;
      index.set(node.id, i);
      const state: TaskState = { status: "PENDING", attempts: 0 };
      this.states[i] = state;
      this.tasks[node.id] = state;
      this.downstream[i] = [];
    }
    for (let i = 0; i < n; i++) {
      const upstream = this.nodes[i]!.upstream;
      this.waitingOn[i] = upstream.length;
      for (const id of upstream) {
        const j = index.get(id);
        if (j === undefined) {
          throw new ValidationError(
            `DAG "${dag.name}": task "${this.nodes[i]!.id}" depends on unknown task "${id}"`,
          );
        }
        this.downstream[j]!.push(i);
      }
      if (upstream.length === 0) this.ready.push(i);
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
      let i: number;
      if (this.retryHead < this.retryReady.length) i = this.retryReady[this.retryHead++]!;
      else if (this.readyHead < this.ready.length) i = this.ready[this.readyHead++]!;
      else return;
      this.startAttempt(i);
    }
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

    let result: unknown;
    try {
      const input = node.dynamicInput ? this.resolveInput(node.input, 0) : node.input;
      result = (node.fn as (input: unknown, ctx: TaskContext) => unknown)(input, ctx);
    } catch (error) {
      // Through a promise like any other outcome: settling synchronously would recurse.
      result = Promise.reject(toError(error));
    }
    const timeoutMs = node.options.timeoutMs;
    // Settled already when the task itself cancelled the run synchronously.
    if (timeoutMs !== undefined && !ctx.settled) {
      ctx.timer = setTimeout(() => {
        const error = new TaskTimeoutError(node.id, timeoutMs);
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
    if (ctx.settled || this.current[ctx.index] !== ctx) return false;
    ctx.settled = true;
    if (ctx.timer !== undefined) clearTimeout(ctx.timer);
    this.current[ctx.index] = undefined;
    this.running--;
    return true;
  }

  private onAttemptSucceeded(ctx: AttemptContext, value: unknown): void {
    if (!this.settle(ctx)) return;
    const i = ctx.index;
    const state = this.states[i]!;
    const now = Date.now();
    const duration = now - this.firstStart[i]!;
    state.status = "SUCCEEDED";
    state.completed_at = this.stamp(now);
    state.duration_ms = duration;
    this.outputs[ctx.taskId] = value;
    this.emit({
      event_type: "task_succeeded",
      timestamp: state.completed_at,
      run_id: this.runId,
      task_id: ctx.taskId,
      attempt: ctx.attempt,
      duration_ms: duration,
    });
    this.remaining--;
    if (!this.stopping) {
      const next = this.downstream[i]!;
      for (let k = 0; k < next.length; k++) {
        const j = next[k]!;
        if (--this.waitingOn[j]! === 0) this.ready.push(j);
      }
      this.pump();
    }
    this.checkDone();
  }

  private onAttemptFailed(ctx: AttemptContext, thrown: unknown): void {
    if (!this.settle(ctx)) return;
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
    this.failTask(i, error);
    if (this.failedIndex === -1) {
      this.failedIndex = i;
      this.failure = error;
      this.stopAfterFailure();
    }
    this.checkDone();
  }

  private failTask(i: number, error: Error): void {
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
  }

  private descendants(from: number): Set<number> {
    const seen = new Set<number>();
    const stack = [from];
    while (stack.length > 0) {
      for (const j of this.downstream[stack.pop()!]!) {
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
  }

  private cancel(reason: unknown): void {
    if (this.finished || this.cancelled) return;
    this.cancelled = true;
    this.stopping = true;
    const error = new RunCancelledError(`run ${this.runId} was cancelled`, { cause: reason });
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    this.retryTimers.clear();
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
