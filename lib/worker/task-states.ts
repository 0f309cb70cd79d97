/**
 * Task-level states in the run record, written in batches: events update an in-memory map,
 * and every `flushIntervalMs` the tasks that changed since the last write go to DynamoDB in
 * ONE `mergeTaskStates` call (one UpdateItem). A task that starts, retries and succeeds within
 * one interval costs one map entry in one write, so a 10,000-task flow makes a handful of
 * writes per second of run time, not 20,000.
 *
 * A mapped task (`task.map`) is ONE entry: its items' events only update its counts
 * (`map`: pending/running/succeeded/failed/…, and the first MAX_MAP_FAILURES_LISTED failed
 * items), so a 10,000-item map costs one entry of bounded size, not 10,000.
 *
 * A write failure is reported and retried with the next flush; it never fails the run.
 */
import {
  MAX_MAP_FAILURES_LISTED,
  type ExecutorEvent,
  type MapSummary,
  type RunResult,
  type TaskState,
} from "../sdk/types";

/** Characters kept of each listed failed item's error: 100 items stay under ~25 KB. */
export const MAX_ITEM_ERROR_LENGTH = 200;

export interface TaskStateSink {
  mergeTaskStates(runId: string, states: Record<string, TaskState>): Promise<unknown>;
}

export interface TaskStateRecorderOptions {
  readonly runId: string;
  readonly sink: TaskStateSink;
  /** Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /** Errors stored per task are cut to this many characters (the item limit is 400 KB). Default 1000. */
  readonly maxErrorLength?: number;
  /** Applied to every error message before it is stored (secret redaction). */
  readonly redact?: (text: string) => string;
  /** Reports a failed write (the worker logs it). */
  readonly onError?: (message: string, error: unknown) => void;
}

export class TaskStateRecorder {
  private readonly states = new Map<string, TaskState>();
  private readonly dirty = new Set<string>();
  private readonly flushIntervalMs: number;
  private readonly maxErrorLength: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private writes = 0;

  constructor(private readonly options: TaskStateRecorderOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxErrorLength = options.maxErrorLength ?? 1000;
  }

  /** Number of `mergeTaskStates` calls made so far. */
  get writeCount(): number {
    return this.writes;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.flush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** Folds one executor event into the task's state. Events without a task id are ignored. */
  apply(event: ExecutorEvent): void {
    const taskId = event.task_id;
    if (taskId === undefined) return;
    if (event.map_task !== undefined) {
      this.applyItem(event.map_task, event);
      return;
    }
    const previous = this.states.get(taskId);
    const attempts = event.attempt ?? previous?.attempts ?? 0;
    let next: TaskState | undefined;
    switch (event.event_type) {
      case "task_started":
        next = {
          status: "RUNNING",
          attempts,
          started_at: previous?.started_at ?? event.timestamp,
        };
        break;
      case "task_retrying":
        // Still in progress: the error of the attempt that failed is kept until one succeeds.
        next = {
          ...previous,
          status: "RUNNING",
          attempts,
          ...this.error(event.error),
        };
        break;
      case "task_succeeded":
        next = this.finished(previous, "SUCCEEDED", attempts, event);
        delete next.error;
        break;
      case "task_failed":
        next = {
          ...this.finished(previous, "FAILED", attempts, event),
          ...this.error(event.error),
        };
        break;
      case "task_skipped":
        next = { status: "SKIPPED", attempts: previous?.attempts ?? 0 };
        break;
      default:
        return;
    }
    if (event.map !== undefined) next.map = this.summary(event.map);
    this.set(taskId, next);
  }

  /** An item of a mapped task: only the mapped task's counts change. */
  private applyItem(mapTask: string, event: ExecutorEvent): void {
    const parent = this.states.get(mapTask);
    if (parent?.map === undefined) return;
    const map: MapSummary = { ...parent.map };
    switch (event.event_type) {
      case "task_started":
        if (event.attempt !== 1) return;
        map.pending--;
        map.running++;
        break;
      case "task_succeeded":
        map.running--;
        map.succeeded++;
        break;
      case "task_failed":
        map.running--;
        map.failed++;
        if (map.failures.length < MAX_MAP_FAILURES_LISTED) {
          map.failures = [
            ...map.failures,
            {
              index: event.map_index ?? -1,
              attempts: event.attempt ?? 0,
              error: this.itemError(event.error ?? "unknown error"),
            },
          ];
        }
        break;
      default:
        return;
    }
    this.set(mapTask, { ...parent, map });
  }

  /** A copy of a map summary with its failures' errors redacted and bounded. */
  private summary(map: MapSummary): MapSummary {
    return {
      ...map,
      failures: map.failures.slice(0, MAX_MAP_FAILURES_LISTED).map((f) => ({
        ...f,
        error: this.itemError(f.error),
      })),
    };
  }

  /** Errors of failed items are cut shorter than tasks': 100 of them share one record. */
  private itemError(message: string): string {
    const error = this.error(message).error ?? "";
    return error.length > MAX_ITEM_ERROR_LENGTH
      ? `${error.slice(0, MAX_ITEM_ERROR_LENGTH)}…[truncated]`
      : error;
  }

  /**
   * Takes the executor's final states as authoritative (tasks cancelled or never started are
   * only known there) and marks those that differ from what was recorded.
   */
  applyResult(result: Pick<RunResult, "tasks">): void {
    for (const [taskId, state] of Object.entries(result.tasks)) {
      const next: TaskState = { ...state };
      if (state.map !== undefined) next.map = this.summary(state.map);
      if (next.error !== undefined) {
        const error = this.error(next.error).error;
        if (error === undefined) delete next.error;
        else next.error = error;
      }
      const previous = this.states.get(taskId);
      if (previous && JSON.stringify(previous) === JSON.stringify(next)) continue;
      this.set(taskId, next);
    }
  }

  /** A copy of every known task state. */
  snapshot(): Record<string, TaskState> {
    return Object.fromEntries([...this.states].map(([id, s]) => [id, { ...s }]));
  }

  /** Writes the tasks changed since the last write, in one call. Never rejects. */
  flush(): Promise<void> {
    this.inFlight = this.inFlight.then(() => this.write());
    return this.inFlight;
  }

  /**
   * The changes not yet written, once a write under way has settled: for a caller that writes
   * them itself (the worker's last status write carries them). `written` then marks them done;
   * until then they stay queued for the next flush.
   */
  async unwritten(): Promise<Record<string, TaskState>> {
    await this.inFlight;
    const batch: Record<string, TaskState> = {};
    for (const id of this.dirty) {
      const state = this.states.get(id);
      if (state) batch[id] = { ...state };
    }
    return batch;
  }

  /** These tasks' states were written by someone else (see `unwritten`). */
  written(taskIds: readonly string[]): void {
    for (const id of taskIds) this.dirty.delete(id);
  }

  /** Stops the timer and writes what is left. Never rejects. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.dirty.size === 0) return;
    const ids = [...this.dirty];
    this.dirty.clear();
    const batch: Record<string, TaskState> = {};
    for (const id of ids) {
      const state = this.states.get(id);
      if (state) batch[id] = { ...state };
    }
    this.writes++;
    try {
      await this.options.sink.mergeTaskStates(this.options.runId, batch);
    } catch (error) {
      // Put them back unless a newer change already did: retried at the next flush.
      for (const id of ids) this.dirty.add(id);
      try {
        this.options.onError?.(`could not record ${ids.length} task states`, error);
      } catch {
        // A broken reporter must not break recording.
      }
    }
  }

  private set(taskId: string, state: TaskState): void {
    this.states.set(taskId, state);
    this.dirty.add(taskId);
  }

  private finished(
    previous: TaskState | undefined,
    status: "SUCCEEDED" | "FAILED",
    attempts: number,
    event: ExecutorEvent,
  ): TaskState {
    const state: TaskState = {
      ...previous,
      status,
      attempts,
      completed_at: event.timestamp,
    };
    if (event.duration_ms !== undefined) state.duration_ms = event.duration_ms;
    return state;
  }

  private error(message: string | undefined): { error?: string } {
    if (message === undefined) return {};
    const redacted = this.options.redact ? this.options.redact(message) : message;
    return {
      error:
        redacted.length > this.maxErrorLength
          ? `${redacted.slice(0, this.maxErrorLength)}…[truncated]`
          : redacted,
    };
  }
}
