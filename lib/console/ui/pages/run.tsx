/**
 * One run at `/console/runs/<run_id>`: its DAG with live task states, a timeline of attempts, its
 * facts (parameters, resources, deployment, trigger, correlation id), its log (follow, filter by
 * task), the traceback when it failed, and cancel.
 */
import { useEffect, useState } from "preact/hooks";
import { apiGet, fetchFlowSpec, isTerminal, seg, type RunDetail, type TaskSpec } from "../api";
import { DagView, type DagTask } from "../dag";
import { durationBetween } from "../format";
import { useNow, usePolled } from "../hooks";
import { useLogStream } from "../logs";
import { href, setQuery } from "../router";
import { RunActions, Traceback } from "../run/actions";
import { RunFacts } from "../run/facts";
import { LogView } from "../run/log-view";
import { MappedTasks, mappedTasks } from "../run/mapped-tasks";
import { Timeline } from "../run/timeline";
import { StatusBadge } from "../status";
import { ErrorNote, Loading } from "../widgets";

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
  // Mapped tasks whose items are shown; collapsed by default.
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());

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

  const specTasks = childRunTasks(spec.data?.flow_spec.tasks, detail);
  const states = detail.task_states ?? {};
  const maps = mappedTasks(specTasks, detail);
  const mappedIds = new Set(maps.map((m) => m.id));
  const tasks: DagTask[] = specTasks
    ? specTasks.map((t) => ({ id: t.id, upstream: t.upstream, mapped: mappedIds.has(t.id) }))
    : Object.keys(states).map((id) => ({ id, upstream: [], mapped: mappedIds.has(id) }));
  for (const id of Object.keys(states)) {
    if (!tasks.some((t) => t.id === id)) tasks.push({ id, upstream: [] });
  }
  const selectTask = (taskId: string | undefined) => setQuery({ task: taskId });
  const toggleMap = (taskId: string) =>
    setExpanded((open) => {
      const next = new Set(open);
      if (!next.delete(taskId)) next.add(taskId);
      return next;
    });
  // Selecting a mapped node in the DAG also opens its items below.
  const selectNode = (taskId: string | undefined) => {
    selectTask(taskId);
    if (taskId !== undefined && mappedIds.has(taskId) && !expanded.has(taskId)) toggleMap(taskId);
  };

  return (
    <article class="run-page" aria-labelledby="run-title">
      <header class="run-header">
        <div>
          <p class="crumbs">
            <a href={href.runs()}>Runs</a> /{" "}
            {detail.parent_run_id && (
              <>
                <a href={href.run(detail.parent_run_id)}>Parent run</a> /
              </>
            )}
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
            onSelect={selectNode}
            label={`Tasks of run ${detail.run_id}. Select a task to filter the log.`}
          />
        )}
        {maps.length > 0 && (
          <MappedTasks
            run={detail}
            tasks={maps}
            logs={logs}
            expanded={expanded}
            onToggle={toggleMap}
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

/**
 * A child run of an isolated map runs only its mapped task, for some items, in its own worker:
 * its DAG is that one task, mapped in-worker. Other runs: the flow's tasks as defined.
 */
function childRunTasks(
  specTasks: readonly TaskSpec[] | undefined,
  run: RunDetail,
): readonly TaskSpec[] | undefined {
  const mapTask = run.map_task;
  if (specTasks === undefined || !mapTask) return specTasks;
  return specTasks
    .filter((t) => t.id === mapTask)
    .map((t) => ({ ...t, upstream: [], map: { ...t.map, isolate: false } }));
}
