/**
 * The run's mapped tasks (`task.map(list)`), one row each: item counts and a progress bar, and a
 * button that expands the items — a page of item states for an in-worker map, the child runs
 * for an isolated one. Collapsed by default; at most one page (100) of items is in the DOM.
 */
import { useMemo, useState } from "preact/hooks";
import { type MapSummary, type RunDetail, type TaskSpec, type TaskStatus } from "../api";
import { mapCounts, mapCountsText } from "../dag";
import { formatDuration } from "../format";
import type { LogStream } from "../logs";
import { ITEMS_PER_PAGE, itemState, type ItemState } from "../map-items";
import { StatusBadge } from "../status";
import { Pager } from "../widgets";
import { ChildRuns } from "./child-runs";

export interface MappedTask {
  readonly id: string;
  readonly isolated: boolean;
}

/** Mapped tasks of a run: from the flow's definition, else from the states that carry counts. */
export function mappedTasks(
  specTasks: readonly TaskSpec[] | undefined,
  run: RunDetail,
): MappedTask[] {
  const out = new Map<string, MappedTask>();
  for (const t of specTasks ?? []) {
    if (t.map) out.set(t.id, { id: t.id, isolated: t.map.isolate === true });
  }
  for (const [id, state] of Object.entries(run.task_states ?? {})) {
    if (state.map && !out.has(id)) out.set(id, { id, isolated: false });
  }
  return [...out.values()];
}

export function MappedTasks({
  run,
  tasks,
  logs,
  expanded,
  onToggle,
}: {
  readonly run: RunDetail;
  readonly tasks: readonly MappedTask[];
  readonly logs: LogStream;
  readonly expanded: ReadonlySet<string>;
  readonly onToggle: (taskId: string) => void;
}) {
  return (
    <div class="mapped-tasks">
      {tasks.map((task) => {
        const state = run.task_states?.[task.id];
        const map = state?.map;
        const open = expanded.has(task.id);
        const panelId = `map-items-${task.id.replace(/[^\w-]/g, "_")}`;
        return (
          <section key={task.id} class="mapped-task" data-map-task={task.id}>
            <div class="mapped-head">
              <button
                type="button"
                class="map-toggle"
                aria-expanded={open}
                aria-controls={open ? panelId : undefined}
                onClick={() => onToggle(task.id)}
              >
                <span aria-hidden="true">{open ? "▾" : "▸"} </span>
                <span class="mono">{task.id}[ ]</span> {open ? "Hide" : "Show"}{" "}
                {task.isolated ? "child runs" : "items"}
              </button>
              <StatusBadge status={state?.status ?? "PENDING"} />
              {map ? (
                <>
                  <span class="map-counts">
                    <span aria-hidden="true">{mapCounts(map)}</span>
                    <span class="visually-hidden">{mapCountsText(map)}</span>
                  </span>
                  <progress
                    class="map-bar"
                    max={Math.max(map.total, 1)}
                    value={map.total === 0 ? 1 : map.succeeded + map.failed}
                    aria-label={`${task.id}: ${map.succeeded + map.failed} of ${map.total} items done`}
                  />
                </>
              ) : (
                <span class="muted">list not known yet</span>
              )}
            </div>
            {open && (
              <div id={panelId} class="map-panel">
                {task.isolated ? (
                  <ChildRuns parent={run} mapTask={task.id} />
                ) : map ? (
                  <MapItems
                    taskId={task.id}
                    offset={run.map_task === task.id ? firstItem(run.map_items) : 0}
                    map={map}
                    status={state?.status ?? "PENDING"}
                    logs={logs}
                  />
                ) : (
                  <p class="muted">No items yet: the task's list is not known.</p>
                )}
              </div>
            )}
          </section>
        );
      })}
      {tasks.some((t) => !t.isolated) && logs.unavailable && (
        <p class="muted">
          Without the run's log, items are known only from the counts (and the first failures).
        </p>
      )}
    </div>
  );
}

/** `3-5` → 3; 0 when absent. */
function firstItem(mapItems: string | null | undefined): number {
  const match = /^(\d+)-\d+$/.exec(mapItems ?? "");
  return match ? Number(match[1]) : 0;
}

const FILTERS: ReadonlyArray<TaskStatus | ""> = [
  "",
  "FAILED",
  "RUNNING",
  "PENDING",
  "SUCCEEDED",
  "SKIPPED",
  "CANCELLED",
];

/** One page of an in-worker map's items, optionally only those of one status. */
function MapItems({
  taskId,
  offset,
  map,
  status,
  logs,
}: {
  readonly taskId: string;
  /** A map's child run numbers its items from 0: this is its first item in the parent's list. */
  readonly offset: number;
  readonly map: MapSummary;
  readonly status: TaskStatus;
  readonly logs: LogStream;
}) {
  const [page, setPage] = useState(0);
  const [filter, setFilter] = useState<TaskStatus | "">("");
  const seen = logs.items.items(taskId);
  // Item states for the filter: cheap (a 10,000-item map is 10,000 lookups), and never drawn all.
  const matching = useMemo(() => {
    if (filter === "") return undefined;
    const out: number[] = [];
    for (let i = 0; i < map.total; i++) {
      if (itemState(i, seen, map, status, logs.complete)?.status === filter) out.push(i);
    }
    return out;
  }, [filter, map, status, logs.complete, logs.events, seen]);
  const count = matching ? matching.length : map.total;
  const pages = Math.max(1, Math.ceil(count / ITEMS_PER_PAGE));
  const current = Math.min(page, pages - 1);
  const first = current * ITEMS_PER_PAGE;
  const shown: number[] = [];
  for (let k = first; k < Math.min(count, first + ITEMS_PER_PAGE); k++) {
    shown.push(matching ? (matching[k] as number) : k);
  }
  const rows: Array<[number, ItemState | undefined]> = shown.map((i) => [
    i,
    itemState(i, seen, map, status, logs.complete),
  ]);

  return (
    <>
      <div class="filters">
        <label>
          Show
          <select
            aria-label={`Which items of ${taskId}`}
            value={filter}
            onChange={(e) => {
              setFilter((e.target as HTMLSelectElement).value as TaskStatus | "");
              setPage(0);
            }}
          >
            {FILTERS.map((f) => (
              <option key={f} value={f}>
                {f === "" ? "All items" : f}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div
        class="table-scroll"
        tabIndex={0}
        role="region"
        aria-label={`Items of ${taskId}, this page`}
      >
        <table class="map-items" aria-label={`Items of ${taskId}`}>
          <thead>
            <tr>
              <th scope="col">Item</th>
              <th scope="col">Status</th>
              <th scope="col">Tries</th>
              <th scope="col">Duration</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([i, item]) => (
              <tr key={i} data-item={i + offset}>
                <th scope="row" class="mono">
                  {taskId}[{i + offset}]
                </th>
                <td>{item ? <StatusBadge status={item.status} /> : <span>unknown</span>}</td>
                <td>{item && item.attempts > 0 ? item.attempts : "—"}</td>
                <td>{item?.duration_ms !== undefined ? formatDuration(item.duration_ms) : "—"}</td>
                <td class="map-item-error">
                  {item?.retrying ? "retrying after: " : ""}
                  {item?.error ?? ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {count === 0 && <p class="empty muted">No item {filter ? `is ${filter}` : "in the list"}.</p>}
      <Pager
        label={`Pages of ${taskId}'s items`}
        page={current}
        pages={pages}
        onPage={setPage}
        summary={
          count === 0
            ? "No items"
            : `Items ${first + 1}–${Math.min(count, first + ITEMS_PER_PAGE)} of ${count}`
        }
      />
    </>
  );
}
