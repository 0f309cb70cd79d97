import type { Json } from "../sdk/types";
import { parseCommandArgs } from "./args";
import { EXIT, UsageError, formatTable, type CliCommand } from "./io";
import {
  apiClientFor,
  COMMON_OPTIONS,
  COMMON_USAGE,
  orgOf,
  shortTime,
  targetOf,
} from "./lifecycle";
import { parseParamFlags, readParamsFile } from "./params";

const usage = `Usage: dagy schedules list [options]
       dagy schedules create <name> --flow <flow_name> --expression <expr> [options]
       dagy schedules delete <name> [options]

Runtime schedules: launch a flow for an org on a cron or rate expression (GET/POST/DELETE
/schedules). On AWS they are EventBridge rules (UTC) or EventBridge Scheduler schedules (with
a time zone) targeting the launch Lambda; locally the platform fires them itself and keeps
them in <data-dir>/schedules.json.

Create options:
      --flow <flow_name>         Flow to launch (required).
      --expression <expr>        "cron(0 9 * * ? *)" (minutes hours day-of-month month
                                 day-of-week year) or "rate(1 hour)" (required).
      --time-zone <zone>         IANA time zone for cron fields, e.g. Europe/Berlin (default UTC).
  -p, --param <key=value>        Launch parameter; repeatable (JSON values as for dagy launch).
      --params-file <file>       Parameters from a JSON object.
      --flow-version <version>   Default latest.
      --environment <name>       Environment of the launches.
      --profile <name>           Workload profile of the launches.
      --deployment <name>        Deployment whose dependency packages the runs get.
      --description <text>
      --disabled                 Create it paused.
      --json                     Print the API's JSON answer.
${COMMON_USAGE}
Examples:
  dagy schedules create etl-daily --flow etl_pipeline --expression "cron(0 9 * * ? *)" \\
    --param date=2024-03-14 --param source=examples/data/orders.csv --param destination=.dagy/out/daily.json
  dagy schedules list
  dagy schedules delete etl-daily
`;

export const command: CliCommand = {
  name: "schedules",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "schedules", usage }, args, io, {
      ...COMMON_OPTIONS,
      flow: { type: "string" },
      expression: { type: "string" },
      "time-zone": { type: "string" },
      param: { type: "string", short: "p", multiple: true },
      "params-file": { type: "string" },
      "flow-version": { type: "string" },
      environment: { type: "string" },
      profile: { type: "string" },
      deployment: { type: "string" },
      description: { type: "string" },
      disabled: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const [action, name, ...extra] = positionals;
    if (extra.length > 0)
      throw new UsageError(`unexpected argument: ${extra.join(" ")}`, "schedules");
    const orgId = orgOf(values, io);
    switch (action) {
      case "list": {
        if (name !== undefined) throw new UsageError(`unexpected argument: ${name}`, "schedules");
        const client = await apiClientFor(targetOf(values, io));
        const schedules = await client.listSchedules(orgId);
        if (values.json) {
          io.stdout(`${JSON.stringify({ schedules }, null, 2)}\n`);
        } else if (schedules.length === 0) {
          io.stdout(`No schedules for ${orgId}.\n`);
        } else {
          io.stdout(
            `${formatTable([
              [
                "NAME",
                "FLOW",
                "EXPRESSION",
                "TIME ZONE",
                "ENABLED",
                "NEXT FIRE",
                "LAST FIRING",
                "PARAMETERS",
              ],
              ...schedules.map((s) => [
                s.name,
                s.flow_name,
                s.expression,
                s.time_zone,
                s.enabled ? "yes" : "no",
                s.next_fire_at ? shortTime(s.next_fire_at) : "-",
                s.last_firing
                  ? `${s.last_firing.run_id.slice(0, 8)} ${s.last_firing.status}${s.last_firing.error ? `: ${s.last_firing.error}` : ""}`
                  : "-",
                JSON.stringify(s.launch.parameters ?? {}),
              ]),
            ])}\n`,
          );
        }
        return EXIT.ok;
      }
      case "create": {
        if (name === undefined)
          throw new UsageError("missing schedule name (dagy schedules create <name>)", "schedules");
        if (values.flow === undefined) throw new UsageError("--flow is required", "schedules");
        if (values.expression === undefined)
          throw new UsageError("--expression is required", "schedules");
        const fromFile =
          values["params-file"] === undefined
            ? {}
            : await readParamsFile("schedules", values["params-file"], io.cwd);
        const parameters = { ...fromFile, ...parseParamFlags("schedules", values.param ?? [], {}) };
        const body: Record<string, Json> = {
          name,
          org_id: orgId,
          flow_name: values.flow,
          expression: values.expression,
          enabled: values.disabled !== true,
          ...(values["time-zone"] !== undefined ? { time_zone: values["time-zone"] } : {}),
          ...(values.description !== undefined ? { description: values.description } : {}),
          ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
          ...(values["flow-version"] !== undefined ? { flow_version: values["flow-version"] } : {}),
          ...(values.environment !== undefined ? { environment: values.environment } : {}),
          ...(values.profile !== undefined ? { workload_profile: values.profile } : {}),
          ...(values.deployment !== undefined ? { deployment_name: values.deployment } : {}),
        };
        const client = await apiClientFor(targetOf(values, io));
        const schedule = await client.createSchedule(body);
        if (values.json) io.stdout(`${JSON.stringify(schedule, null, 2)}\n`);
        else {
          io.stdout(
            `Schedule ${schedule.name} for ${schedule.org_id}: ${schedule.flow_name} on ${schedule.expression}` +
              `${schedule.time_zone !== "UTC" ? ` (${schedule.time_zone})` : ""}${schedule.enabled ? "" : ", disabled"} [${schedule.resource_name}]\n`,
          );
        }
        return EXIT.ok;
      }
      case "delete": {
        if (name === undefined)
          throw new UsageError("missing schedule name (dagy schedules delete <name>)", "schedules");
        const client = await apiClientFor(targetOf(values, io));
        await client.deleteSchedule(orgId, name);
        io.stdout(`Schedule ${name} deleted.\n`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(
          action === undefined
            ? "missing action: list, create or delete"
            : `unknown action "${action}": use list, create or delete`,
          "schedules",
        );
    }
  },
};
