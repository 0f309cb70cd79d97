/** The runs list: live, filtered by flow and status (the org is the console's), paginated. */
import { useState } from "preact/hooks";
import { apiGet, RUN_STATUSES, type FlowSummary, type RunPage } from "../api";
import { durationBetween, formatTime, shortId } from "../format";
import { useNow, usePolled } from "../hooks";
import { href, setQuery } from "../router";
import { StatusBadge } from "../status";
import { ErrorNote } from "../widgets";

const PAGE_SIZE = 25;
const REFRESH_MS = 2000;

export function RunsPage({
  org,
  search,
}: {
  readonly org: string;
  readonly search: URLSearchParams;
}) {
  const flow = search.get("flow") ?? "";
  const status = search.get("status") ?? "";
  // Tokens of the pages before this one; the last is this page's.
  const [tokens, setTokens] = useState<string[]>([]);
  const token = tokens[tokens.length - 1];
  const filterKey = `${org}|${flow}|${status}`;
  const [lastFilter, setLastFilter] = useState(filterKey);
  if (lastFilter !== filterKey) {
    setLastFilter(filterKey);
    setTokens([]);
  }

  const flows = usePolled(() => apiGet<{ flows: FlowSummary[] }>("/flows", { org_id: org }), [org]);
  const runs = usePolled(
    () =>
      apiGet<RunPage>("/runs", {
        org_id: org,
        flow_name: flow,
        status,
        limit: String(PAGE_SIZE),
        next_token: token,
      }),
    [org, flow, status, token],
    () => REFRESH_MS,
  );
  const now = useNow(true);
  const flowNames = new Set((flows.data?.flows ?? []).map((f) => f.flow_name));
  if (flow !== "") flowNames.add(flow);

  return (
    <section aria-labelledby="runs-title">
      <h1 id="runs-title">Runs</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs">
        <label>
          Flow
          <select
            value={flow}
            onChange={(e) => setQuery({ flow: (e.target as HTMLSelectElement).value })}
          >
            <option value="">All flows</option>
            {[...flowNames].sort().map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select
            value={status}
            onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value })}
          >
            <option value="">Any status</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <span class="muted live-note">Updates every {REFRESH_MS / 1000} s</span>
      </form>
      {runs.error && <ErrorNote error={runs.error} />}
      <div class="table-scroll">
        <table class="runs">
          <caption class="visually-hidden">
            Runs of {org}
            {flow && `, flow ${flow}`}
            {status && `, status ${status}`}
          </caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Flow</th>
              <th scope="col">Trigger</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {(runs.data?.runs ?? []).map((run) => (
              <tr key={run.run_id} data-run-id={run.run_id}>
                <td data-label="Run">
                  <a href={href.run(run.run_id)} class="mono" title={run.run_id}>
                    {shortId(run.run_id)}
                  </a>
                </td>
                <td data-label="Status">
                  <StatusBadge status={run.status} />
                </td>
                <td data-label="Flow">
                  {run.flow_name} <span class="muted">{run.flow_version}</span>
                </td>
                <td data-label="Trigger">{run.trigger_source}</td>
                <td data-label="Started">{formatTime(run.started_at ?? run.created_at)}</td>
                <td data-label="Duration">
                  {run.started_at
                    ? durationBetween(run.started_at, run.completed_at, now)
                    : run.status === "QUEUED"
                      ? "waiting"
                      : "—"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {runs.data && runs.data.runs.length === 0 && (
        <p class="empty">
          No runs{flow || status ? " match these filters" : " yet"}. Launch one from{" "}
          <a href={href.flows()}>Flows</a>.
        </p>
      )}
      <nav class="pager" aria-label="Pages of runs">
        <button
          type="button"
          disabled={tokens.length === 0}
          onClick={() => setTokens((t) => t.slice(0, -1))}
        >
          ← Newer
        </button>
        <span class="muted">Page {tokens.length + 1}</span>
        <button
          type="button"
          disabled={!runs.data?.next_token}
          onClick={() => {
            const next = runs.data?.next_token;
            if (next) setTokens((t) => [...t, next]);
          }}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}
