import { onePositional, parseCommandArgs } from "./args";
import { EXIT, formatDuration, formatTable, type CliCommand } from "./io";
import { waitForRun } from "./launch";
import {
  apiClientFor,
  COMMON_OPTIONS,
  COMMON_USAGE,
  orgOf,
  runDuration,
  shortTime,
  targetOf,
} from "./lifecycle";
import type { RunBody } from "./api-client";

const usage = `Usage: dagy status <run_id> [options]

Shows a run (GET /runs/<run_id>): status, times, error, and each task's state.

Options:
  -w, --wait        Wait until the run finishes; exit 0 if it SUCCEEDED, 1 otherwise.
      --json        Print the API's JSON answer.
${COMMON_USAGE}`;

export function formatRun(run: RunBody): string {
  const lines: string[] = [];
  const fields: string[][] = [
    ["run", run.run_id],
    ["flow", `${run.flow_name}${run.flow_version ? ` ${run.flow_version}` : ""}`],
    ["status", run.status],
    ["org", run.org_id ?? "-"],
    ["environment", run.environment || "-"],
    ["trigger", run.trigger_source ?? "-"],
    ["created", shortTime(run.created_at)],
    ["started", shortTime(run.started_at)],
    ["completed", shortTime(run.completed_at)],
    ["duration", runDuration(run)],
    ["task", run.task_arn ?? "-"],
  ];
  if (run.error_message) fields.push(["error", run.error_message]);
  if (run.exit_code !== undefined && run.exit_code !== null) {
    fields.push(["exit code", String(run.exit_code)]);
  }
  if (run.traceback_uri) fields.push(["traceback", run.traceback_uri]);
  if (run.logs?.log_stream) {
    fields.push([
      "logs",
      run.logs.log_group ? `${run.logs.log_group} ${run.logs.log_stream}` : run.logs.log_stream,
    ]);
  }
  lines.push(formatTable(fields.map(([k, v]) => [`${k}:`, v ?? ""])));
  const tasks = Object.entries(run.task_states ?? {});
  if (tasks.length > 0) {
    lines.push("");
    lines.push(
      formatTable([
        ["TASK", "STATUS", "ATTEMPTS", "DURATION", "ERROR"],
        ...tasks.map(([id, s]) => [
          id,
          s.status,
          String(s.attempts),
          s.duration_ms === undefined ? "-" : formatDuration(s.duration_ms),
          s.error ? s.error.split("\n")[0]!.slice(0, 120) : "",
        ]),
      ]),
    );
  }
  return `${lines.join("\n")}\n`;
}

export const command: CliCommand = {
  name: "status",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "status", usage }, args, io, {
      ...COMMON_OPTIONS,
      wait: { type: "boolean", short: "w" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const runId = onePositional("status", positionals, "run id (dagy status <run_id>)");
    const orgId = orgOf(values, io);
    const client = await apiClientFor(targetOf(values, io));
    let run = await client.getRun(runId, values.org !== undefined ? orgId : undefined);
    if (run === undefined) {
      io.stderr(`dagy: error: Run not found: ${runId}\n`);
      return EXIT.failure;
    }
    if (values.wait)
      run = await waitForRun(client, runId, run.org_id ?? orgId, io, { quiet: true });
    io.stdout(values.json ? `${JSON.stringify(run, null, 2)}\n` : formatRun(run));
    if (values.wait) return run.status === "SUCCEEDED" ? EXIT.ok : EXIT.failure;
    return EXIT.ok;
  },
};
