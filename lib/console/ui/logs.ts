/**
 * A run's log as one stream: GET /runs/{id}/logs from a position, polled while the run can still
 * write (`complete` false). The run page filters it by task and builds the timeline from it.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, apiGet, seg, type LogEvent, type LogPage } from "./api";
import { MapItemIndex } from "./map-items";

/** Beyond this many events, the oldest are dropped from the page (the API keeps them all). */
export const MAX_EVENTS = 20_000;
const POLL_MS = 1000;

export interface LogStream {
  readonly events: readonly LogEvent[];
  readonly complete: boolean;
  /** Set when this API serves no logs (or not this run's): the page says so. */
  readonly unavailable?: string;
  readonly error?: Error;
  readonly dropped: number;
  /** Mapped tasks' items, folded from every event received (dropped ones included). */
  readonly items: MapItemIndex;
}

export function useLogStream(runId: string, orgId: string | undefined): LogStream {
  const [stream, setStream] = useState<LogStream>(() => emptyStream());
  useEffect(() => {
    const fresh = emptyStream();
    const items = fresh.items;
    setStream(fresh);
    if (orgId === undefined) return;
    let stopped = false;
    let timer: number | undefined;
    let position: string | undefined;
    const poll = async () => {
      try {
        const page = await apiGet<LogPage>(`/runs/${seg(runId)}/logs`, {
          org_id: orgId,
          position,
        });
        if (stopped) return;
        position = page.next_position;
        items.apply(page.events);
        if (page.events.length > 0 || page.complete) {
          setStream((s) => {
            const all = page.events.length > 0 ? [...s.events, ...page.events] : s.events;
            const over = Math.max(0, all.length - MAX_EVENTS);
            return {
              items,
              events: over > 0 ? all.slice(over) : all,
              complete: page.complete,
              dropped: s.dropped + over,
            };
          });
        }
        if (!page.complete) timer = window.setTimeout(() => void poll(), POLL_MS);
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
          setStream((s) => ({ ...s, unavailable: error.message }));
          return;
        }
        setStream((s) => ({ ...s, error: error as Error }));
        timer = window.setTimeout(() => void poll(), POLL_MS * 3);
      }
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [runId, orgId]);
  return stream;
}

function emptyStream(): LogStream {
  return { events: [], complete: false, dropped: 0, items: new MapItemIndex() };
}

export interface Attempt {
  readonly taskId: string;
  readonly attempt: number;
  readonly start: number;
  /** Undefined while the attempt runs. */
  readonly end: number | undefined;
  readonly outcome: "RUNNING" | "SUCCEEDED" | "FAILED" | "RETRIED";
  readonly error?: string;
}

/** Every task attempt in the log, in start order; retries are separate attempts; mapped items are left out. */
export function attemptsFromEvents(events: readonly LogEvent[]): Attempt[] {
  const open = new Map<string, { taskId: string; attempt: number; start: number }>();
  const out: Attempt[] = [];
  for (const e of events) {
    if (!e.task_id || !e.timestamp) continue;
    // A mapped task's items are told by its own node and items list: one row, not 10,000.
    if (e.map_task !== undefined) continue;
    const at = Date.parse(e.timestamp);
    const attempt = typeof e.attempt === "number" ? e.attempt : 1;
    const key = `${e.task_id}#${attempt}`;
    if (e.event_type === "task_started") {
      open.set(key, { taskId: e.task_id, attempt, start: at });
      continue;
    }
    const outcome =
      e.event_type === "task_succeeded"
        ? "SUCCEEDED"
        : e.event_type === "task_failed"
          ? "FAILED"
          : e.event_type === "task_retrying"
            ? "RETRIED"
            : undefined;
    if (outcome === undefined) continue;
    // An end event without an attempt number closes the task's open attempt.
    const openKey = open.has(key)
      ? key
      : [...open.keys()].reverse().find((k) => k.startsWith(`${e.task_id}#`));
    const started = openKey === undefined ? undefined : open.get(openKey);
    if (openKey === undefined || started === undefined) continue;
    open.delete(openKey);
    out.push({
      ...started,
      end: at,
      outcome,
      ...(typeof e.error === "string" ? { error: e.error } : {}),
    });
  }
  for (const started of open.values()) out.push({ ...started, end: undefined, outcome: "RUNNING" });
  return out.sort((a, b) => a.start - b.start || a.attempt - b.attempt);
}
