import { parseList } from "../config/env";
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

const usage = `Usage: dagy deployments set <name> --packages <slug,slug...> [options]
       dagy deployments list [options]

A deployment names the dependency packages a run gets: launch with --deployment <name> and
the worker installs those packages before running the flow (the guide's DeploymentModel).
Every package must exist and be usable by the org (dagy deps push).

Options:
      --packages <a,b>       Package slugs, comma-separated (set; may be empty: "").
      --environment <name>   The deployment's environment (default: the deployment name).
      --json                 Print JSON.
${COMMON_USAGE}`;

export const command: CliCommand = {
  name: "deployments",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "deployments", usage }, args, io, {
      ...COMMON_OPTIONS,
      packages: { type: "string" },
      environment: { type: "string" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const [action, name, ...extra] = positionals;
    if (extra.length > 0)
      throw new UsageError(`unexpected argument: ${extra.join(" ")}`, "deployments");
    const orgId = orgOf(values, io);
    if (action !== "set" && action !== "list") {
      throw new UsageError(
        action === undefined
          ? "missing action: set or list"
          : `unknown action "${action}": use set or list`,
        "deployments",
      );
    }
    if (action === "set") {
      if (name === undefined)
        throw new UsageError(
          "missing deployment name (dagy deployments set <name>)",
          "deployments",
        );
      if (values.packages === undefined)
        throw new UsageError("--packages is required (comma-separated slugs)", "deployments");
    }
    const client = await apiClientFor(targetOf(values, io));
    if (action === "list") {
      const deployments = await client.listDeployments(orgId);
      if (values.json) io.stdout(`${JSON.stringify({ deployments }, null, 2)}\n`);
      else if (deployments.length === 0) io.stdout(`No deployments for ${orgId}.\n`);
      else {
        io.stdout(
          `${formatTable([
            ["NAME", "ENVIRONMENT", "PACKAGES", "UPDATED"],
            ...deployments.map((d) => [
              d.name,
              d.environment,
              d.packages.join(",") || "-",
              shortTime(d.updated_at),
            ]),
          ])}\n`,
        );
      }
      return EXIT.ok;
    }
    const deploymentName = name ?? "";
    const slugs = parseList(values.packages);
    const record = await client.putDeployment(deploymentName, {
      org_id: orgId,
      environment: values.environment ?? deploymentName,
      packages: slugs,
    });
    if (values.json) io.stdout(`${JSON.stringify(record, null, 2)}\n`);
    else {
      io.stdout(
        `Deployment ${record.name} (${record.environment}) for ${orgId}: ${record.packages.length > 0 ? record.packages.join(", ") : "no packages"}\n`,
      );
    }
    return EXIT.ok;
  },
};
