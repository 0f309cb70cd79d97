import { onePositional, parseCommandArgs } from "./args";
import { EXIT, type CliCommand } from "./io";
import { waitForRun } from "./launch";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, orgOf, targetOf } from "./lifecycle";

const usage = `Usage: dagy cancel <run_id> [options]

Cancels a run (POST /runs/<run_id>/cancel). A QUEUED run is CANCELLED at once; a RUNNING one
is asked to stop: its worker receives SIGTERM and records CANCELLED.

Options:
      --reason <text>   Why (stored on the run).
  -w, --wait            Wait until the run has stopped.
${COMMON_USAGE}`;

export const command: CliCommand = {
  name: "cancel",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "cancel", usage }, args, io, {
      ...COMMON_OPTIONS,
      reason: { type: "string" },
      wait: { type: "boolean", short: "w" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const runId = onePositional("cancel", positionals, "run id (dagy cancel <run_id>)");
    const orgId = values.org !== undefined ? orgOf(values, io) : undefined;
    const client = await apiClientFor(targetOf(values, io));
    const answer = (await client.cancelRun(runId, orgId, values.reason)) as {
      status?: string;
      org_id?: string;
    };
    io.stdout(
      answer.status === "CANCELLED"
        ? `Run ${runId} cancelled.\n`
        : `Cancellation of run ${runId} requested (status ${answer.status ?? "?"}); its worker is stopping.\n`,
    );
    if (values.wait && answer.status !== "CANCELLED") {
      const run = await waitForRun(client, runId, orgId, io, { quiet: true });
      io.stdout(`Run ${runId} is ${run.status}.\n`);
    }
    return EXIT.ok;
  },
};
