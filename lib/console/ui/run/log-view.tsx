/** The run's log: follows the run, filters by task, stops following when scrolled up. */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { LogEvent } from "../api";
import { formatClock } from "../format";
import type { LogStream } from "../logs";
import { ErrorNote } from "../widgets";

/**
 * Lines drawn at most: the newest. A 10,000-item map logs 20,000 events; the page keeps them
 * (filters see all) but drawing them all would make every update slow.
 */
export const MAX_LINES_DRAWN = 1000;

export function LogView({
  logs,
  taskIds,
  selectedTask,
  onSelectTask,
  active,
}: {
  readonly logs: LogStream;
  readonly taskIds: readonly string[];
  readonly selectedTask: string | undefined;
  readonly onSelectTask: (taskId: string | undefined) => void;
  readonly active: boolean;
}) {
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const shown = useMemo(
    () =>
      selectedTask === undefined
        ? logs.events
        : // A mapped task's lines include its items' (`square[7]`).
          logs.events.filter(
            (e: LogEvent) => e.task_id === selectedTask || e.map_task === selectedTask,
          ),
    [logs.events, selectedTask],
  );
  const hidden = Math.max(0, shown.length - MAX_LINES_DRAWN);
  const drawn = hidden > 0 ? shown.slice(hidden) : shown;
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown.length, follow]);

  if (logs.unavailable) {
    return <p class="muted">This API does not serve run logs ({logs.unavailable}).</p>;
  }
  return (
    <>
      <div class="filters">
        <label>
          Task
          <select
            value={selectedTask ?? ""}
            onChange={(e) => onSelectTask((e.target as HTMLSelectElement).value || undefined)}
          >
            <option value="">All tasks</option>
            {taskIds.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label class="inline">
          <input
            type="checkbox"
            checked={follow}
            onChange={(e) => setFollow((e.target as HTMLInputElement).checked)}
          />
          Follow
        </label>
        <span class="muted" role="status">
          {shown.length} line{shown.length === 1 ? "" : "s"}
          {logs.complete ? ", complete" : active ? ", following the run" : ""}
          {logs.dropped > 0 ? ` (${logs.dropped} oldest not shown)` : ""}
          {hidden > 0 ? `; the last ${MAX_LINES_DRAWN} drawn (filter by task to see others)` : ""}
        </span>
      </div>
      {logs.error && <ErrorNote error={logs.error} what="Log" />}
      <div
        class="log"
        ref={box}
        tabIndex={0}
        aria-label="Run log"
        role="log"
        onScroll={(e) => {
          // Scrolling up to read stops following; back at the bottom, it resumes.
          const el = e.currentTarget;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          if (atBottom !== follow) setFollow(atBottom);
        }}
      >
        {drawn.map((e, i) => (
          <div key={hidden + i} class={`log-line level-${(e.level ?? "info").toLowerCase()}`}>
            <span class="log-time">{formatClock(e.timestamp)}</span>{" "}
            <span class="log-level">{(e.level ?? "info").toUpperCase()}</span>{" "}
            {e.task_id && <span class="log-task">[{e.task_id}]</span>}{" "}
            {e.event_type && e.event_type !== "task_log" && (
              <span class="log-event">{e.event_type}</span>
            )}{" "}
            <span class="log-message">{e.message ?? e.msg ?? ""}</span>
            {e.error && <span class="log-error"> {e.error}</span>}
          </div>
        ))}
      </div>
    </>
  );
}
