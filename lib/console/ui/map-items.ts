/**
 * Per-item states of mapped tasks. The run record keeps only counts per mapped task (and its
 * first failed items), so a 10,000-item map fits in one DynamoDB item; each item's own story is
 * in the run's log, as events carrying `map_task` and `map_index`. This index folds those events
 * as the log streams in, so it stays complete even when the page drops its oldest log lines.
 */
import type { LogEvent, MapSummary, TaskStatus } from "./api";

export interface ItemState {
  readonly status: TaskStatus;
  /** Attempts started so far (0: never started). */
  readonly attempts: number;
  readonly duration_ms?: number;
  readonly error?: string;
  /** The last attempt failed and another is scheduled. */
  readonly retrying?: boolean;
}

/** Items shown per page when a mapped task is expanded. */
export const ITEMS_PER_PAGE = 100;

export class MapItemIndex {
  private readonly maps = new Map<string, Map<number, ItemState>>();

  /** Folds log events in order; events of other tasks are ignored. */
  apply(events: readonly LogEvent[]): void {
    for (const e of events) {
      if (typeof e.map_task !== "string" || typeof e.map_index !== "number") continue;
      let items = this.maps.get(e.map_task);
      if (items === undefined) {
        items = new Map();
        this.maps.set(e.map_task, items);
      }
      const previous = items.get(e.map_index);
      const attempts = typeof e.attempt === "number" ? e.attempt : (previous?.attempts ?? 1);
      const duration = typeof e.duration_ms === "number" ? { duration_ms: e.duration_ms } : {};
      const error = typeof e.error === "string" ? { error: e.error } : {};
      switch (e.event_type) {
        case "task_started":
          items.set(e.map_index, { status: "RUNNING", attempts });
          break;
        case "task_retrying":
          items.set(e.map_index, { status: "RUNNING", attempts, retrying: true, ...error });
          break;
        case "task_succeeded":
          items.set(e.map_index, { status: "SUCCEEDED", attempts, ...duration });
          break;
        case "task_failed":
          items.set(e.map_index, { status: "FAILED", attempts, ...duration, ...error });
          break;
        case "task_skipped":
          items.set(e.map_index, { status: "SKIPPED", attempts: previous?.attempts ?? 0 });
          break;
        default:
          break;
      }
    }
  }

  /** Items of `mapTask` seen in the log, by position. */
  items(mapTask: string): ReadonlyMap<number, ItemState> {
    return this.maps.get(mapTask) ?? new Map<number, ItemState>();
  }
}

/**
 * One item's state: from its log events when there are any; otherwise from the mapped task's
 * counts (a listed failure, or what every unstarted item became). Undefined: not known (the
 * log is not available and the counts do not settle it).
 */
export function itemState(
  index: number,
  seen: ReadonlyMap<number, ItemState>,
  summary: MapSummary,
  mapStatus: TaskStatus,
  logComplete: boolean,
): ItemState | undefined {
  const fromLog = seen.get(index);
  if (fromLog !== undefined) return fromLog;
  const failure = summary.failures.find((f) => f.index === index);
  if (failure !== undefined) {
    return { status: "FAILED", attempts: failure.attempts, error: failure.error };
  }
  if (mapStatus === "PENDING" || mapStatus === "RUNNING") {
    // Isolated items run elsewhere and count as running from the start.
    return summary.pending === 0 && summary.running > 0
      ? { status: "RUNNING", attempts: 1 }
      : { status: "PENDING", attempts: 0 };
  }
  const unlisted = summary.failed - summary.failures.length;
  if (mapStatus === "SUCCEEDED" && unlisted === 0) return { status: "SUCCEEDED", attempts: 1 };
  if (!logComplete) return undefined;
  // The whole log is here and has no event for the item: it never started.
  if (summary.skipped > 0 && summary.cancelled === 0) return { status: "SKIPPED", attempts: 0 };
  if (summary.cancelled > 0 && summary.skipped === 0) return { status: "CANCELLED", attempts: 0 };
  return undefined;
}
