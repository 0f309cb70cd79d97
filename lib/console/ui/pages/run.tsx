/**
 * One run at `/console/runs/<run_id>`: its DAG with live task states, a timeline of attempts, its
 * facts (parameters, resources, deployment, trigger, correlation id), its log (follow, filter by
 * task), the traceback when it failed, and cancel.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  ApiError,
  apiGet,
  apiRequest,
  fetchFlowSpec,
  isTerminal,
  seg,
  type LogEvent,
  type RunDetail,
} from "../api";
import { DagView, type DagTask } from "../dag";
import { durationBetween, formatClock, formatDuration, formatTime, jsonText } from "../format";
import { useNow, usePolled } from "../hooks";
import { attemptsFromEvents, useLogStream, type Attempt, type LogStream } from "../logs";
import { href, navigate, setQuery } from "../router";
import { StatusBadge, STATUS_SYMBOL, statusClass } from "../status";
import { ErrorNote, Facts, Loading } from "../widgets";

const ACTIVE_POLL_MS = 1000;

export function RunPage({
  runId,
  search,
}: {
  readonly runId: string;
  readonly search: URLSearchParams;
}) {
  // The run page reads the run without an org: a shared link works whatever org the viewer's
  // console is set to (the API still decides what the caller may see).
  const run = usePolled(
    () => apiGet<RunDetail>(`/runs/${seg(runId)}`),
    [runId],
    (data) => (data && isTerminal(data.status) ? undefined : ACTIVE_POLL_MS),
  );
  const detail = run.data;
  const spec = usePolled(
    () =>
      detail
        ? fetchFlowSpec(detail.org_id, detail.flow_name, detail.flow_version)
        : Promise.resolve(undefined),
    [detail?.org_id, detail?.flow_name, detail?.flow_version],
  );
  const logs = useLogStream(runId, detail?.org_id);
  const selectedTask = search.get("task") ?? undefined;
  const now = useNow(detail !== undefined && !isTerminal(detail.status));

  useEffect(() => {
    document.title = `${detail ? `${detail.flow_name} ${detail.status}` : "Run"} · Dagy`;
  }, [detail?.flow_name, detail?.status]);

  if (!detail) {
    if (run.error) {
      return (
        <section>
          <h1>Run {runId}</h1>
          <ErrorNote error={run.error} />
          <p>
            <a href={href.runs()}>All runs</a>
          </p>
        </section>
      );
    }
    return <Loading what={`run ${runId}`} />;
  }

  const specTasks = spec.data?.flow_spec.tasks;
  const states = detail.task_states ?? {};
  const tasks: DagTask[] = specTasks
    ? specTasks.map((t) => ({ id: t.id, upstream: t.upstream }))
    : Object.keys(states).map((id) => ({ id, upstream: [] }));
  for (const id of Object.keys(states)) {
    if (!tasks.some((t) => t.id === id)) tasks.push({ id, upstream: [] });
  }
  const selectTask = (taskId: string | undefined) => setQuery({ task: taskId });

  return (
    <article class="run-page" aria-labelledby="run-title">
      <header class="run-header">
        <div>
          <p class="crumbs">
            <a href={href.runs()}>Runs</a> /
          </p>
          <h1 id="run-title">
            <a href={href.flow(detail.flow_name, detail.flow_version)}>{detail.flow_name}</a>{" "}
            <span class="muted">{detail.flow_version}</span>
          </h1>
          <p class="mono run-id">{detail.run_id}</p>
        </div>
        <div class="run-status">
          {/* Announced when it changes; the ticking duration beside it is not. */}
          <span aria-live="polite">
            <StatusBadge status={detail.status} />
          </span>
          <span>{durationBetween(detail.started_at, detail.completed_at, now)}</span>
          {detail.cancel_requested && !isTerminal(detail.status) && (
            <span class="muted">cancel requested</span>
          )}
        </div>
        <RunActions run={detail} onChange={run.refresh} />
      </header>
      {run.error && <ErrorNote error={run.error} what="Refreshing" />}

      {detail.status === "FAILED" && <Traceback run={detail} />}
      {detail.error_message && detail.status !== "FAILED" && (
        <p class="error-note">{detail.error_message}</p>
      )}

      <section aria-labelledby="dag-title" class="panel">
        <h2 id="dag-title">Tasks</h2>
        {!specTasks && !spec.loading && (
          <p class="muted">
            This API does not serve the flow's definition; tasks are shown without their edges.
          </p>
        )}
        {spec.loading && !spec.data ? (
          <Loading what="the flow's DAG" />
        ) : tasks.length === 0 ? (
          <p class="muted">No task has started yet.</p>
        ) : (
          <DagView
            tasks={tasks}
            states={states}
            selected={selectedTask}
            onSelect={selectTask}
            label={`Tasks of run ${detail.run_id}. Select a task to filter the log.`}
          />
        )}
        {detail.task_states_truncated && (
          <p class="muted">
            Too many tasks to keep every state in the run record; the log has all of them.
          </p>
        )}
      </section>

      <div class="two-col">
        <section aria-labelledby="timeline-title" class="panel">
          <h2 id="timeline-title">Timeline</h2>
          <Timeline run={detail} logs={logs} now={now} />
        </section>
        <section aria-labelledby="facts-title" class="panel">
          <h2 id="facts-title">Details</h2>
          <RunFacts run={detail} />
        </section>
      </div>

      <section aria-labelledby="log-title" class="panel">
        <h2 id="log-title">Log</h2>
        <LogView
          logs={logs}
          taskIds={tasks.map((t) => t.id)}
          selectedTask={selectedTask}
          onSelectTask={selectTask}
          active={!isTerminal(detail.status)}
        />
      </section>
    </article>
  );
}

function RunActions({ run, onChange }: { readonly run: RunDetail; readonly onChange: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>(undefined);
  const canCancel = !isTerminal(run.status) && !run.cancel_requested;
  const canRerun = (run.actions ?? []).includes("rerun");

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  const cancel = () =>
    act(async () => {
      await apiRequest("POST", `/runs/${seg(run.run_id)}/cancel`, {
        body: { reason: "Cancelled from the console" },
      });
      onChange();
    });
  const rerun = () =>
    act(async () => {
      const body = await apiRequest<{ run_id: string }>("POST", `/runs/${seg(run.run_id)}/rerun`, {
        body: {},
      });
      navigate(href.run(body.run_id));
    });

  return (
    <div class="actions">
      {canCancel && !confirming && (
        <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
          Cancel run…
        </button>
      )}
      {canCancel && confirming && (
        <span role="group" aria-label="Confirm cancellation" class="confirm">
          <span>Cancel this run?</span>
          <button type="button" class="danger" disabled={busy} onClick={() => void cancel()}>
            Yes, cancel run
          </button>
          <button type="button" disabled={busy} onClick={() => setConfirming(false)}>
            Keep running
          </button>
        </span>
      )}
      {canRerun && (
        <button type="button" disabled={busy} onClick={() => void rerun()}>
          Re-run
        </button>
      )}
      {error && <ErrorNote error={error} />}
    </div>
  );
}

function Traceback({ run }: { readonly run: RunDetail }) {
  const traceback = usePolled(async () => {
    try {
      return await apiGet<{ traceback: string }>(`/runs/${seg(run.run_id)}/traceback`, {
        org_id: run.org_id,
      });
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        return undefined;
      }
      throw error;
    }
  }, [run.run_id, run.org_id]);
  const failedTasks = Object.entries(run.task_states ?? {}).filter(
    ([, s]) => s.status === "FAILED" && s.error,
  );
  return (
    <section class="panel failure" aria-labelledby="failure-title">
      <h2 id="failure-title">
        <span aria-hidden="true">{STATUS_SYMBOL.FAILED} </span>Why it failed
      </h2>
      {run.error_message && <p class="failure-message">{run.error_message}</p>}
      {failedTasks.map(([id, s]) => (
        <p key={id}>
          Task <strong>{id}</strong>: {s.error}
        </p>
      ))}
      {traceback.data?.traceback ? (
        <pre class="traceback" tabIndex={0} aria-label="Traceback">
          {traceback.data.traceback}
        </pre>
      ) : traceback.loading ? (
        <Loading what="the traceback" />
      ) : (
        <p class="muted">No traceback was stored for this run.</p>
      )}
      {traceback.error && <ErrorNote error={traceback.error} what="Traceback" />}
    </section>
  );
}

function RunFacts({ run }: { readonly run: RunDetail }) {
  const parameters = run.parameters ?? undefined;
  const resources = [
    run.workload_profile && `profile ${run.workload_profile}`,
    run.cpu && `${run.cpu} CPU units`,
    run.memory && `${run.memory} MiB`,
    run.ephemeral_storage_gib && `${run.ephemeral_storage_gib} GiB disk`,
    run.capacity_provider,
  ].filter(Boolean);
  return (
    <>
      <Facts
        label="Run details"
        items={[
          ["Org", run.org_id],
          ["Environment", run.environment],
          ["Deployment", run.deployment_name ?? "none"],
          ["Trigger", `${run.trigger_source}${run.triggered_by ? ` (${run.triggered_by})` : ""}`],
          ["Correlation id", <span class="mono">{run.correlation_id}</span>],
          ["Created", formatTime(run.created_at)],
          ["Started", formatTime(run.started_at)],
          ["Completed", run.completed_at ? formatTime(run.completed_at) : null],
          ["Resources", resources.length > 0 ? resources.join(", ") : null],
          ["Task", run.task_arn ? <span class="mono">{run.task_arn}</span> : null],
          ["Exit code", run.exit_code === null ? null : String(run.exit_code)],
          ["Stop reason", run.stop_reason],
          [
            "Secrets",
            run.secret_names && run.secret_names.length > 0
              ? `${run.secret_names.join(", ")} (names only)`
              : null,
          ],
          [
            "CloudWatch",
            run.logs?.console_url ? <a href={run.logs.console_url}>log stream</a> : null,
          ],
        ]}
      />
      <h3>Parameters</h3>
      {parameters && Object.keys(parameters).length > 0 ? (
        <table class="params">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(parameters).map(([name, value]) => (
              <tr key={name}>
                <th scope="row" class="mono">
                  {name}
                </th>
                <td class="mono">{jsonText(value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">
          {parameters
            ? "None."
            : run.parameters_uri
              ? `Stored in S3 (${run.parameters_uri}).`
              : "Not reported by this API."}
        </p>
      )}
    </>
  );
}

function Timeline({
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

function LogView({
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
        : logs.events.filter((e: LogEvent) => e.task_id === selectedTask),
    [logs.events, selectedTask],
  );
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
        {shown.map((e, i) => (
          <div key={i} class={`log-line level-${(e.level ?? "info").toLowerCase()}`}>
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
