/**
 * Schedules: expression, time zone, next fire time, the last firing's outcome, enable/disable.
 * Next fire times come from the API when it reports them, else from the same expression
 * evaluator the local scheduler and the stack use (cron exactly; rates only roughly, as their
 * anchor is the schedule's creation).
 */
import { useState } from "preact/hooks";
import { nextFireTime, parseScheduleExpression } from "../../../schedules/expression";
import { apiGet, apiRequest, type RunPage, type ScheduleBody } from "../api";
import { formatTime } from "../format";
import { usePolled } from "../hooks";
import { href } from "../router";
import { StatusBadge } from "../status";
import { ErrorNote, Loading } from "../widgets";

const REFRESH_MS = 5000;
/** Launch fields the API sets on a schedule itself and refuses in a request body. */
const API_OWNED = new Set(["trigger_source", "triggered_by", "action", "flow_name", "org_id"]);

function nextFire(schedule: ScheduleBody, now: Date): string {
  if (!schedule.enabled) return "disabled";
  if (schedule.next_fire_time !== undefined) return formatTime(schedule.next_fire_time);
  try {
    const parsed = parseScheduleExpression(schedule.expression);
    const next = nextFireTime(parsed, now, { timeZone: schedule.time_zone });
    if (!next) return "never again";
    return parsed.kind === "rate"
      ? `every ${schedule.expression.slice(5, -1)}`
      : formatTime(next.toISOString());
  } catch {
    return "—";
  }
}

export function SchedulesPage({ org }: { readonly org: string }) {
  const schedules = usePolled(
    () => apiGet<{ schedules: ScheduleBody[] }>("/schedules", { org_id: org }),
    [org],
    () => REFRESH_MS,
  );
  // The newest scheduled run of each flow, for schedules whose body has no last firing.
  const runs = usePolled(
    () => apiGet<RunPage>("/runs", { org_id: org, limit: "100" }),
    [org],
    () => REFRESH_MS,
  );
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const now = new Date();

  const toggle = async (s: ScheduleBody) => {
    setBusy(s.name);
    setError(undefined);
    try {
      const launch = Object.fromEntries(
        Object.entries(s.launch).filter(([k]) => !API_OWNED.has(k)),
      );
      await apiRequest("POST", "/schedules", {
        body: {
          ...launch,
          flow_name: s.flow_name,
          org_id: s.org_id,
          name: s.name,
          expression: s.expression,
          time_zone: s.time_zone,
          enabled: !s.enabled,
          ...(s.description ? { description: s.description } : {}),
        },
      });
      schedules.refresh();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(undefined);
    }
  };

  const lastFiring = (s: ScheduleBody) => {
    if (s.last_firing) return s.last_firing;
    const run = (runs.data?.runs ?? []).find(
      (r) =>
        r.trigger_source === "schedule" &&
        r.flow_name === s.flow_name &&
        (r.triggered_by == null || r.triggered_by === `schedule:${s.name}`),
    );
    return run ? { run_id: run.run_id, status: run.status, fired_at: run.created_at } : undefined;
  };

  return (
    <section aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules</h1>
      {schedules.error && <ErrorNote error={schedules.error} />}
      {error && <ErrorNote error={error} what="Changing the schedule" />}
      {schedules.loading && !schedules.data && <Loading what="schedules" />}
      {schedules.data && schedules.data.schedules.length === 0 && (
        <p class="empty">No schedule for {org}. Create one with `npx dagy schedules put`.</p>
      )}
      {schedules.data && schedules.data.schedules.length > 0 && (
        <div class="table-scroll">
          <table>
            <caption class="visually-hidden">Schedules of {org}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Flow</th>
                <th scope="col">Expression</th>
                <th scope="col">Time zone</th>
                <th scope="col">Next fire (your time)</th>
                <th scope="col">Last firing</th>
                <th scope="col">Enabled</th>
              </tr>
            </thead>
            <tbody>
              {schedules.data.schedules.map((s) => {
                const last = lastFiring(s);
                return (
                  <tr key={s.name} data-schedule={s.name}>
                    <th scope="row">
                      {s.name}
                      {s.description && <div class="muted description">{s.description}</div>}
                    </th>
                    <td>
                      <a href={href.flow(s.flow_name)}>{s.flow_name}</a>
                    </td>
                    <td class="mono">{s.expression}</td>
                    <td>{s.time_zone}</td>
                    <td>{nextFire(s, now)}</td>
                    <td>
                      {last?.status ? (
                        <>
                          <StatusBadge status={last.status} />{" "}
                          {last.run_id && (
                            <a href={href.run(last.run_id)}>{formatTime(last.fired_at)}</a>
                          )}
                        </>
                      ) : runs.loading ? (
                        ""
                      ) : (
                        "not fired yet"
                      )}
                    </td>
                    <td>
                      <button
                        type="button"
                        role="switch"
                        aria-checked={s.enabled}
                        aria-label={`${s.name} enabled`}
                        disabled={busy === s.name}
                        onClick={() => void toggle(s)}
                      >
                        {s.enabled ? "On" : "Off"}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
