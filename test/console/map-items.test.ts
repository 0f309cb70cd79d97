/**
 * What the console says about each item of a mapped task: from the item's log events when the
 * log has them, else from the mapped task's counts in the run record.
 */
import type { LogEvent, MapSummary } from "../../lib/console/ui/api";
import { itemState, MapItemIndex } from "../../lib/console/ui/map-items";

const summary = (over: Partial<MapSummary>): MapSummary => ({
  total: 4,
  pending: 0,
  running: 0,
  succeeded: 0,
  failed: 0,
  skipped: 0,
  cancelled: 0,
  failures: [],
  ...over,
});

const event = (event_type: string, index: number, extra: Partial<LogEvent> = {}): LogEvent => ({
  event_type,
  task_id: `square[${index}]`,
  map_task: "square",
  map_index: index,
  ...extra,
});

describe("mapped items in the console", () => {
  it("follows each item through its log events: running, retrying, then its outcome", () => {
    const index = new MapItemIndex();
    index.apply([
      event("task_started", 0, { attempt: 1 }),
      event("task_started", 1, { attempt: 1 }),
      event("task_retrying", 1, { attempt: 1, error: "flaky" }),
      { event_type: "task_started", task_id: "other", attempt: 1 },
    ]);
    expect(index.items("square").get(0)).toEqual({ status: "RUNNING", attempts: 1 });
    expect(index.items("square").get(1)).toEqual({
      status: "RUNNING",
      attempts: 1,
      retrying: true,
      error: "flaky",
    });
    index.apply([
      event("task_started", 1, { attempt: 2 }),
      event("task_succeeded", 1, { attempt: 2, duration_ms: 40 }),
      event("task_failed", 0, { attempt: 1, duration_ms: 5, error: "bad row" }),
    ]);
    expect(index.items("square").get(1)).toEqual({
      status: "SUCCEEDED",
      attempts: 2,
      duration_ms: 40,
    });
    expect(index.items("square").get(0)).toEqual({
      status: "FAILED",
      attempts: 1,
      duration_ms: 5,
      error: "bad row",
    });
    // Only item events are indexed: the task "other" has no items.
    expect(index.items("other").size).toBe(0);
  });

  it("falls back on the counts for items the log does not mention", () => {
    const none = new Map();
    const failed = summary({
      succeeded: 3,
      failed: 1,
      failures: [{ index: 2, attempts: 3, error: "item 2 refused" }],
    });
    // A listed failure, with its tries and error, even without a log.
    expect(itemState(2, none, failed, "SUCCEEDED", false)).toEqual({
      status: "FAILED",
      attempts: 3,
      error: "item 2 refused",
    });
    // Every failure listed and the map succeeded: the others succeeded.
    expect(itemState(0, none, failed, "SUCCEEDED", false)?.status).toBe("SUCCEEDED");
    // Still running: not started yet, or (isolated: none pending) running elsewhere.
    expect(itemState(3, none, summary({ pending: 2, running: 2 }), "RUNNING", false)?.status).toBe(
      "PENDING",
    );
    expect(itemState(3, none, summary({ running: 4 }), "RUNNING", false)?.status).toBe("RUNNING");
    // The run stopped first: with the whole log, an item it never mentions never ran.
    const stopped = summary({ succeeded: 1, failed: 1, skipped: 2 });
    expect(itemState(3, none, stopped, "FAILED", true)?.status).toBe("SKIPPED");
    // Without the whole log that cannot be told.
    expect(itemState(3, none, stopped, "FAILED", false)).toBeUndefined();
  });
});
