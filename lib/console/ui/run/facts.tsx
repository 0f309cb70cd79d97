/** A run's facts: org, trigger, resources, secrets by name, and its parameters. */
import type { RunDetail } from "../api";
import { formatTime, jsonText } from "../format";
import { href } from "../router";
import { Facts } from "../widgets";

export function RunFacts({ run }: { readonly run: RunDetail }) {
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
          [
            "Parent run",
            run.parent_run_id ? (
              <a href={href.run(run.parent_run_id)} class="mono">
                {run.parent_run_id}
              </a>
            ) : null,
          ],
          [
            "Mapped items",
            run.map_task && run.map_items ? (
              <span class="mono">
                {run.map_task}[{run.map_items.replace("-", "–")}]
              </span>
            ) : null,
          ],
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
