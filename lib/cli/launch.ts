import type { Json } from "../sdk/types";
import { onePositional, parseCommandArgs, positiveInteger } from "./args";
import type { ApiClient, RunBody } from "./api-client";
import { EXIT, UsageError, formatDuration, type CliCommand, type CliIO } from "./io";
import {
  apiClientFor,
  COMMON_OPTIONS,
  COMMON_USAGE,
  orgOf,
  sleep,
  targetOf,
  TERMINAL,
} from "./lifecycle";
import { parseParamFlags, readParamsFile } from "./params";

const usage = `Usage: dagy launch <flow_name> [options]

Launches a run of a registered flow (POST /flows/<flow_name>/runs) and prints its run id.

Options:
  -p, --param <key=value>        Set a parameter; repeat for more. Text that parses as JSON is
                                 used as JSON (3, true, {"a":1}); anything else is a string.
      --params-file <file>       Parameters from a JSON object; --param flags override it.
      --flow-version <version>   Version to run (default latest: highest semantic version).
      --environment <name>       develop, staging, production, ... (default: the platform's).
      --profile <name>           Workload profile: small, medium, large, xlarge, heavy, max.
      --cpu <units> --memory <MiB>  Explicit Fargate size (a valid pair, e.g. 2048 / 4096).
      --ephemeral-storage <GiB>  21-200.
      --deployment <name>        Named deployment whose dependency packages the run gets.
      --correlation-id <id>      Distributed trace id.
      --env <NAME=value>         Extra environment variable for the worker; repeatable.
      --secret <NAME=arn>        Secrets Manager ARN injected as NAME; repeatable. Locally the
                                 value comes from .dagy/secrets.json.
      --capacity <spot|on-demand>  Fargate Spot or regular capacity.
      --idempotency-key <key>    The same key within 24 hours returns the first run.
  -w, --wait                     Wait for the run to finish, showing its progress; the exit
                                 status is then 0 SUCCEEDED, 1 FAILED or CANCELLED.
      --json                     Print the API's JSON answer (with --wait: the final run).
${COMMON_USAGE}
Examples:
  dagy launch etl_pipeline --param date=2024-03-14 --param source=examples/data/orders.csv \\
    --param destination=.dagy/out/orders.json --wait
  dagy launch train_model --profile large --outputs cdk-outputs.json
`;

function keyValues(
  command: string,
  option: string,
  flags: readonly string[] | undefined,
): Record<string, string> | undefined {
  if (flags === undefined || flags.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    if (eq <= 0) throw new UsageError(`${option} expects NAME=value, got "${flag}"`, command);
    out[flag.slice(0, eq)] = flag.slice(eq + 1);
  }
  return out;
}

/** Polls the run until it is terminal, printing status and task changes. */
export async function waitForRun(
  client: ApiClient,
  runId: string,
  orgId: string | undefined,
  io: CliIO,
  options: { readonly quiet?: boolean; readonly intervalMs?: number } = {},
): Promise<RunBody> {
  let lastStatus = "";
  const taskStatus = new Map<string, string>();
  let interval = options.intervalMs ?? 200;
  let interrupted = false;
  const stopListening = io.onInterrupt?.(() => {
    interrupted = true;
  });
  try {
    for (;;) {
      const run = await client.getRun(runId, orgId);
      if (run === undefined) throw new UsageError(`run ${runId} not found`);
      if (!options.quiet) {
        if (run.status !== lastStatus) {
          io.stdout(`  ${run.status.toLowerCase()}\n`);
          lastStatus = run.status;
        }
        for (const [task, state] of Object.entries(run.task_states ?? {})) {
          if (taskStatus.get(task) === state.status) continue;
          taskStatus.set(task, state.status);
          const detail =
            state.status === "SUCCEEDED" && state.duration_ms !== undefined
              ? ` in ${formatDuration(state.duration_ms)}`
              : state.status === "FAILED" && state.error
                ? `: ${state.error}`
                : "";
          io.stdout(`    ${task}  ${state.status.toLowerCase()}${detail}\n`);
        }
      }
      if (TERMINAL.has(run.status)) return run;
      if (interrupted) {
        io.stderr(
          `\nStopped waiting; the run goes on. Follow it with: dagy status ${runId}  (cancel: dagy cancel ${runId})\n`,
        );
        return run;
      }
      await sleep(interval);
      interval = Math.min(interval * 1.25, 2000);
    }
  } finally {
    stopListening?.();
  }
}

export const command: CliCommand = {
  name: "launch",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "launch", usage }, args, io, {
      ...COMMON_OPTIONS,
      param: { type: "string", short: "p", multiple: true },
      "params-file": { type: "string" },
      "flow-version": { type: "string" },
      environment: { type: "string" },
      profile: { type: "string" },
      cpu: { type: "string" },
      memory: { type: "string" },
      "ephemeral-storage": { type: "string" },
      deployment: { type: "string" },
      "correlation-id": { type: "string" },
      env: { type: "string", multiple: true },
      secret: { type: "string", multiple: true },
      capacity: { type: "string" },
      "idempotency-key": { type: "string" },
      wait: { type: "boolean", short: "w" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const flowName = onePositional("launch", positionals, "flow name (dagy launch <flow_name>)");
    const orgId = orgOf(values, io);
    const fromFile =
      values["params-file"] === undefined
        ? {}
        : await readParamsFile("launch", values["params-file"], io.cwd);
    const parameters: Record<string, Json> = {
      ...fromFile,
      ...parseParamFlags("launch", values.param ?? [], {}),
    };
    let capacity: string | undefined;
    if (values.capacity !== undefined) {
      const c = values.capacity.toLowerCase();
      if (c === "spot" || c === "fargate_spot") capacity = "FARGATE_SPOT";
      else if (c === "on-demand" || c === "fargate") capacity = "FARGATE";
      else
        throw new UsageError(
          `--capacity must be spot or on-demand, got "${values.capacity}"`,
          "launch",
        );
    }
    const extraEnv = keyValues("launch", "--env", values.env);
    const secrets = keyValues("launch", "--secret", values.secret);
    const body: Record<string, Json> = {
      org_id: orgId,
      parameters,
      ...(values["flow-version"] !== undefined ? { flow_version: values["flow-version"] } : {}),
      ...(values.environment !== undefined ? { environment: values.environment } : {}),
      ...(values.profile !== undefined ? { workload_profile: values.profile } : {}),
      ...(values.cpu !== undefined ? { cpu: values.cpu } : {}),
      ...(values.memory !== undefined ? { memory: values.memory } : {}),
      ...(values["ephemeral-storage"] !== undefined
        ? {
            ephemeral_storage_gib: positiveInteger(
              "launch",
              "--ephemeral-storage",
              values["ephemeral-storage"],
            ),
          }
        : {}),
      ...(values.deployment !== undefined ? { deployment_name: values.deployment } : {}),
      ...(values["correlation-id"] !== undefined
        ? { correlation_id: values["correlation-id"] }
        : {}),
      ...(extraEnv !== undefined ? { extra_env_vars: extraEnv } : {}),
      ...(secrets !== undefined ? { secrets_env: secrets } : {}),
      ...(capacity !== undefined ? { capacity_provider: capacity } : {}),
    };

    const client = await apiClientFor(targetOf(values, io));
    const result = await client.launch(flowName, body, {
      ...(values["idempotency-key"] !== undefined
        ? { idempotencyKey: values["idempotency-key"] }
        : {}),
    });
    if (!result.success) {
      io.stderr(
        `dagy: error: launch of ${flowName} failed${result.run_id ? ` (run ${result.run_id})` : ""}: ${result.error ?? "unknown error"}\n`,
      );
      return EXIT.failure;
    }
    if (!values.wait) {
      if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      else {
        io.stdout(`Launched ${flowName} for ${orgId}: run ${result.run_id}\n`);
        io.stdout(`  task ${result.task_arn ?? "-"}\n`);
        io.stdout(`  dagy status ${result.run_id}   dagy logs ${result.run_id} --follow\n`);
      }
      return EXIT.ok;
    }
    if (!values.json) io.stdout(`Launched ${flowName} for ${orgId}: run ${result.run_id}\n`);
    const run = await waitForRun(client, result.run_id, orgId, io, { quiet: values.json === true });
    if (values.json) io.stdout(`${JSON.stringify(run, null, 2)}\n`);
    if (run.status === "SUCCEEDED") {
      if (!values.json) io.stdout(`Run ${run.run_id} succeeded.\n`);
      return EXIT.ok;
    }
    if (!TERMINAL.has(run.status)) return EXIT.interrupted;
    io.stderr(
      `dagy: error: run ${run.run_id} ${run.status}: ${run.error_message ?? "no error message"}\n`,
    );
    return EXIT.failure;
  },
};
