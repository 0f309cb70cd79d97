/** Every task attempt on one time axis, from the log (or, without one, from the run record). */
import { useMemo } from "preact/hooks";
import type { RunDetail } from "../api";
import { formatDuration } from "../format";
import { attemptsFromEvents, type Attempt, type LogStream } from "../logs";
import { statusClass } from "../status";

export function Timeline({
  run,
  logs,
  now,
}: {
  readonly run: RunDetail;
  readonly logs: LogStream;
  readonly now: number;
}) {
  const fromLog = useMemo(() => attemptsFromEvents(logs.events), [logs.events]);
  // Without a log, one bar per task from the run record (attempt counts, no per-try times).
  const attempts: Attempt[] =
    fromLog.length > 0
      ? fromLog
      : Object.entries(run.task_states ?? {})
          .filter(([, s]) => s.started_at)
          .map(([taskId, s]): Attempt => ({
            taskId,
            attempt: s.attempts,
            start: Date.parse(s.started_at as string),
            end: s.completed_at ? Date.parse(s.completed_at) : undefined,
            outcome:
              s.status === "SUCCEEDED"
                ? "SUCCEEDED"
                : s.status === "FAILED"
                  ? "FAILED"
                  : s.status === "RUNNING"
                    ? "RUNNING"
                    : "RETRIED",
            ...(s.error ? { error: s.error } : {}),
          }))
          .sort((a, b) => a.start - b.start);
  if (attempts.length === 0) return <p class="muted">No task has started yet.</p>;
  const origin = Math.min(...attempts.map((a) => a.start));
  const last = Math.max(...attempts.map((a) => a.end ?? now), origin + 1);
  const span = last - origin;
  return (
    <ol class="timeline" aria-label="Task attempts in start order">
      {attempts.map((a) => {
        const end = a.end ?? now;
        const left = ((a.start - origin) / span) * 100;
        const width = Math.max(((end - a.start) / span) * 100, 0.8);
        const status = a.outcome === "RETRIED" ? "FAILED" : a.outcome;
        const label =
          a.outcome === "RETRIED"
            ? "failed, retried"
            : a.outcome === "RUNNING"
              ? "running"
              : a.outcome;
        return (
          <li key={`${a.taskId}#${a.attempt}`} class="timeline-row">
            <span class="timeline-name mono" title={a.taskId}>
              {a.taskId}
              {(a.attempt > 1 || a.outcome === "RETRIED") && (
                <span class="muted"> try {a.attempt}</span>
              )}
            </span>
            <span class="timeline-track" aria-hidden="true">
              <span
                class={`timeline-bar ${statusClass(status)}${a.outcome === "RETRIED" ? " retried" : ""}`}
                style={{ left: `${left}%`, width: `${width}%` }}
              />
            </span>
            <span class="timeline-duration">
              {formatDuration(end - a.start)} · {label}
              {a.error && <span class="visually-hidden">: {a.error}</span>}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
