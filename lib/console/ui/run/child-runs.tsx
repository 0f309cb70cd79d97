/**
 * An isolated map's child runs (GET /runs?parent_run_id=…), a page of 100 at a time through the
 * API's next_token, each linking to its own run page. Refreshed while the parent is active.
 */
import { useState } from "preact/hooks";
import { apiGet, isTerminal, type RunDetail, type RunPage, type RunSummary } from "../api";
import { durationBetween, shortId } from "../format";
import { useNow, usePolled } from "../hooks";
import { href } from "../router";
import { StatusBadge } from "../status";
import { ErrorNote, Loading, Pager } from "../widgets";

const PAGE_SIZE = 100;
const REFRESH_MS = 2000;

/** `3-5` → [3, 5]; undefined when absent or malformed. */
function itemRange(run: RunSummary): [number, number] | undefined {
  const match = /^(\d+)-(\d+)$/.exec(run.map_items ?? "");
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

export function ChildRuns({
  parent,
  mapTask,
}: {
  readonly parent: RunDetail;
  readonly mapTask: string;
}) {
  // Tokens of the pages before this one; the last is this page's.
  const [tokens, setTokens] = useState<string[]>([]);
  const token = tokens[tokens.length - 1];
  const active = !isTerminal(parent.status);
  const page = usePolled(
    () =>
      apiGet<RunPage>("/runs", {
        org_id: parent.org_id,
        parent_run_id: parent.run_id,
        limit: String(PAGE_SIZE),
        next_token: token,
      }),
    [parent.org_id, parent.run_id, token, active],
    () => (active ? REFRESH_MS : undefined),
  );
  const now = useNow(active);
  if (!page.data) {
    return page.error ? <ErrorNote error={page.error} /> : <Loading what="child runs" />;
  }
  // Children of this mapped task (a run may map more than one), in item order.
  const children = page.data.runs
    .filter((r) => (r.map_task ?? mapTask) === mapTask)
    .sort((a, b) => (itemRange(a)?.[0] ?? 0) - (itemRange(b)?.[0] ?? 0));
  return (
    <>
      {page.error && <ErrorNote error={page.error} what="Refreshing" />}
      <div
        class="table-scroll"
        tabIndex={0}
        role="region"
        aria-label={`Child runs of ${mapTask}, this page`}
      >
        <table class="map-children" aria-label={`Child runs of ${mapTask}`}>
          <thead>
            <tr>
              <th scope="col">Items</th>
              <th scope="col">Child run</th>
              <th scope="col">Status</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {children.map((child) => {
              const range = itemRange(child);
              return (
                <tr key={child.run_id} data-run-id={child.run_id}>
                  <th scope="row" class="mono">
                    {range === undefined
                      ? "—"
                      : range[0] === range[1]
                        ? `${mapTask}[${range[0]}]`
                        : `${mapTask}[${range[0]}–${range[1]}]`}
                  </th>
                  <td>
                    <a href={href.run(child.run_id)} class="mono" title={child.run_id}>
                      {shortId(child.run_id)}
                    </a>
                  </td>
                  <td>
                    <StatusBadge status={child.status} />
                  </td>
                  <td>
                    {child.started_at
                      ? durationBetween(child.started_at, child.completed_at, now)
                      : "waiting"}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {children.length === 0 && (
        <p class="empty muted">
          {active ? "No child run launched yet." : "This map launched no child runs."}
        </p>
      )}
      <Pager
        label={`Pages of ${mapTask}'s child runs`}
        page={tokens.length}
        pages={page.data.next_token ? undefined : tokens.length + 1}
        onPage={(next) =>
          setTokens((t) =>
            next < t.length
              ? t.slice(0, next)
              : page.data?.next_token
                ? [...t, page.data.next_token]
                : t,
          )
        }
        summary={`${children.length} child run${children.length === 1 ? "" : "s"} on this page`}
      />
    </>
  );
}
