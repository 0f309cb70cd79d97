import { onePositional, parseCommandArgs } from "./args";
import { EXIT, type CliCommand } from "./io";
import { waitForRun } from "./launch";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, orgOf, targetOf } from "./lifecycle";

const usage = `Usage: dagy rerun <run_id> [options]

Starts a new run of the same flow version and parameters as a finished run
(POST /runs/<run_id>/rerun). The new run records rerun_of; the old one lists it in reruns.

Options:
      --from-failure    Keep the tasks that succeeded (their stored outputs) and execute only
                        the failed task and what follows it. Default: from the start.
  -w, --wait            Wait until the new run has finished.
${COMMON_USAGE}`;

interface RerunAnswer {
  readonly run_id?: string | null;
  readonly success?: boolean;
  readonly error?: string;
}

export const command: CliCommand = {
  name: "rerun",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "rerun", usage }, args, io, {
      ...COMMON_OPTIONS,
      "from-failure": { type: "boolean" },
      wait: { type: "boolean", short: "w" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const runId = onePositional("rerun", positionals, "run id (dagy rerun <run_id>)");
    const orgId = values.org !== undefined ? orgOf(values, io) : undefined;
    const from = values["from-failure"] ? "failure" : "start";
    const client = await apiClientFor(targetOf(values, io));
    const answer = await client.send<RerunAnswer>({
      method: "POST",
      path: `/runs/${encodeURIComponent(runId)}/rerun`,
      body: { from, ...(orgId !== undefined ? { org_id: orgId } : {}) },
    });
    const newRunId = answer.run_id ?? "";
    if (answer.success === false || !newRunId) {
      io.stderr(`Re-run of ${runId} failed: ${answer.error ?? "unknown error"}\n`);
      return EXIT.failure;
    }
    io.stdout(
      `Run ${newRunId} re-runs ${runId} from ${from === "failure" ? "its failure" : "the start"}.\n`,
    );
    if (values.wait) {
      const run = await waitForRun(client, newRunId, orgId, io, { quiet: true });
      io.stdout(`Run ${newRunId} is ${run.status}.\n`);
      return run.status === "SUCCEEDED" ? EXIT.ok : EXIT.failure;
    }
    return EXIT.ok;
  },
};
