import { RUN_STATUSES } from "../persistence/schema";
import { parseCommandArgs, positiveInteger } from "./args";
import { EXIT, UsageError, formatTable, type CliCommand } from "./io";
import {
  apiClientFor,
  COMMON_OPTIONS,
  COMMON_USAGE,
  orgOf,
  runDuration,
  shortTime,
  targetOf,
} from "./lifecycle";

const usage = `Usage: dagy runs [options]

Lists an org's runs, newest first (GET /runs).

Options:
      --flow <flow_name>     Only this flow's runs.
      --status <status>      Only runs in this status: ${RUN_STATUSES.join(", ")}.
      --parent <run_id>      Only this run's child runs (an isolated map's), in launch order.
      --limit <n>            At most n runs (1-100, default 20).
      --next-token <token>   The next page (printed under a full page).
      --json                 Print the API's JSON answer.
${COMMON_USAGE}`;

export const command: CliCommand = {
  name: "runs",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "runs", usage }, args, io, {
      ...COMMON_OPTIONS,
      flow: { type: "string" },
      status: { type: "string" },
      parent: { type: "string" },
      limit: { type: "string" },
      "next-token": { type: "string" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument: ${positionals.join(" ")}`, "runs");
    }
    const status = values.status?.toUpperCase();
    if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
      throw new UsageError(`--status must be one of ${RUN_STATUSES.join(", ")}`, "runs");
    }
    const limit =
      values.limit === undefined ? 20 : positiveInteger("runs", "--limit", values.limit);
    const orgId = orgOf(values, io);
    const client = await apiClientFor(targetOf(values, io));
    const page = await client.listRuns({
      orgId,
      ...(values.flow !== undefined ? { flowName: values.flow } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(values.parent !== undefined ? { parentRunId: values.parent } : {}),
      limit,
      ...(values["next-token"] !== undefined ? { nextToken: values["next-token"] } : {}),
    });
    if (values.json) {
      io.stdout(`${JSON.stringify(page, null, 2)}\n`);
      return EXIT.ok;
    }
    if (page.runs.length === 0) {
      io.stdout(
        `No runs for ${orgId}${values.parent ? ` under ${values.parent}` : ""}${values.flow ? ` of ${values.flow}` : ""}${status ? ` in ${status}` : ""}.\n`,
      );
      return EXIT.ok;
    }
    const rows = [
      ["RUN ID", "FLOW", "VERSION", "STATUS", "CREATED", "DURATION", "TRIGGER", "ERROR"],
      ...page.runs.map((run) => [
        run.run_id,
        run.flow_name,
        run.flow_version ?? "",
        run.status,
        shortTime(run.created_at),
        runDuration(run),
        run.trigger_source ?? "",
        (run.error_message ?? "").split("\n")[0]!.slice(0, 80),
      ]),
    ];
    io.stdout(`${formatTable(rows)}\n`);
    if (page.next_token) {
      io.stdout(
        `\nMore: dagy runs --next-token ${page.next_token}${values.parent ? ` --parent ${values.parent}` : ""}${values.flow ? ` --flow ${values.flow}` : ""}${status ? ` --status ${status}` : ""}\n`,
      );
    }
    return EXIT.ok;
  },
};
