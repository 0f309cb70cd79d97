import { onePositional, parseCommandArgs } from "./args";
import { EXIT, type CliCommand } from "./io";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, orgOf, targetOf } from "./lifecycle";

const usage = `Usage: dagy traceback <run_id> [options]

Prints the traceback a failed run left (the worker writes it to the traces bucket when a flow
fails), read through the API.

Options:
      --json        Print {"run_id", "traceback"} as JSON.
${COMMON_USAGE}`;

export const command: CliCommand = {
  name: "traceback",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "traceback", usage }, args, io, {
      ...COMMON_OPTIONS,
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const runId = onePositional("traceback", positionals, "run id (dagy traceback <run_id>)");
    const orgId = orgOf(values, io);
    const client = await apiClientFor(targetOf(values, io));
    const found = await client.getTraceback(runId, orgId);
    if (found === undefined) {
      const run = await client.getRun(runId, orgId);
      io.stderr(
        `dagy: error: run ${runId} left no traceback${run !== undefined ? ` (status ${run.status}${run.error_message ? `: ${run.error_message}` : ""})` : ""}\n`,
      );
      return EXIT.failure;
    }
    if (values.json) io.stdout(`${JSON.stringify(found, null, 2)}\n`);
    else io.stdout(found.traceback.endsWith("\n") ? found.traceback : `${found.traceback}\n`);
    return EXIT.ok;
  },
};
