import { randomUUID } from "node:crypto";
import { createJsonLogger } from "../log";
import { resolveParameters, runDag } from "../sdk";
import type { ExecutorEvent, FlowSpec, Json, RunResult } from "../sdk";
import { onePositional, parseCommandArgs, positiveInteger } from "./args";
import { loadTarget } from "./flow-target";
import { EXIT, formatDuration, formatTable, type CliCommand, type CliIO } from "./io";
import { parseParamFlags, readParamsFile } from "./params";

const usage = `Usage: dagy run <flow.ts|artifact.zip> [options]

Runs a flow in this process: a TypeScript/JavaScript flow file (bundled in memory exactly as
\`dagy build\` would) or an artifact built by \`dagy build\`. Parameters are also set as upper-cased
environment variables for the run (destination -> DESTINATION).

Options:
  -p, --param <key=value>    Set a parameter; repeat for more. A value that parses as JSON is
                             used as JSON (3, true, {"a":1}, [1,2]); anything else is a string.
                             Parameters declared with type "string" always take the text as is.
      --params-file <file>   Read parameters from a JSON object; --param flags override it.
      --max-parallelism <n>  Run at most n tasks at once (default: the flow's maxParallelism, else 8).
      --run-id <id>          Run id (default: a random UUID).
      --json                 Print the executor's events as JSON lines instead of progress text.
  -h, --help                 Show this help.

Exit status: 0 the run succeeded, 1 it failed (the failing task's stack trace is printed),
2 usage or parameter error (nothing ran), 130 interrupted.

Examples:
  dagy run examples/flows/etl_pipeline.ts \\
    --param date=2024-03-14 --param source=examples/data/orders.csv --param destination=out/orders.json
  dagy run artifact.zip --params-file params.json --json
`;

/** Human-readable progress: one line per task event, task ids in one column. */
class ProgressPrinter {
  private readonly width: number;
  constructor(
    private readonly io: CliIO,
    spec: FlowSpec,
  ) {
    this.width = Math.max(4, ...spec.tasks.map((t) => t.id.length));
  }

  private line(taskId: string, text: string): void {
    this.io.stdout(`  ${taskId.padEnd(this.width)}  ${text}\n`);
  }

  onEvent(event: ExecutorEvent): void {
    const id = event.task_id ?? "";
    const attempt = event.attempt ?? 1;
    switch (event.event_type) {
      case "task_started":
        this.line(id, attempt > 1 ? `started (attempt ${attempt})` : "started");
        break;
      case "task_succeeded":
        this.line(id, `succeeded in ${formatDuration(event.duration_ms ?? 0)}`);
        break;
      case "task_retrying":
        this.line(
          id,
          `attempt ${attempt} failed: ${event.error ?? "error"}; retrying in ` +
            formatDuration(event.retry_in_ms ?? 0),
        );
        break;
      case "task_failed":
        this.line(
          id,
          `failed after ${attempt} attempt${attempt === 1 ? "" : "s"}: ${event.error ?? "error"}`,
        );
        break;
      case "task_skipped":
        this.line(id, "skipped (an upstream task did not succeed)");
        break;
      case "task_log": {
        const fields =
          event.fields && Object.keys(event.fields).length > 0
            ? ` ${JSON.stringify(event.fields)}`
            : "";
        this.line(id, `${event.level ?? "info"}: ${event.message ?? ""}${fields}`);
        break;
      }
      default:
        // run_* events are summarised after the run.
        break;
    }
  }
}

function summaryTable(spec: FlowSpec, result: RunResult): string {
  const rows: string[][] = [["TASK", "STATUS", "ATTEMPTS", "DURATION"]];
  for (const { id } of spec.tasks) {
    const state = result.tasks[id];
    rows.push([
      id,
      state?.status ?? "PENDING",
      String(state?.attempts ?? 0),
      state?.duration_ms === undefined ? "-" : formatDuration(state.duration_ms),
    ]);
  }
  return formatTable(rows);
}

/** `k=v` pairs in declaration order, then any undeclared ones. */
function formatParameters(parameters: Record<string, Json>, spec: FlowSpec): string {
  const keys = [...new Set([...Object.keys(spec.parameters), ...Object.keys(parameters)])].filter(
    (k) => Object.prototype.hasOwnProperty.call(parameters, k),
  );
  if (keys.length === 0) return "(none)";
  return keys.map((k) => `${k}=${JSON.stringify(parameters[k])}`).join(" ");
}

export const command: CliCommand = {
  name: "run",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "run", usage }, args, io, {
      param: { type: "string", short: "p", multiple: true },
      "params-file": { type: "string" },
      "max-parallelism": { type: "string" },
      "run-id": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const target = onePositional(
      "run",
      positionals,
      "flow file or artifact (dagy run <flow.ts|artifact.zip>)",
    );
    const maxParallelism =
      values["max-parallelism"] === undefined
        ? undefined
        : positiveInteger("run", "--max-parallelism", values["max-parallelism"]);
    const fromFile =
      values["params-file"] === undefined
        ? {}
        : await readParamsFile("run", values["params-file"], io.cwd);

    const { dag, spec } = await loadTarget(target, io);
    const given = { ...fromFile, ...parseParamFlags("run", values.param ?? [], spec.parameters) };

    // Validates before anything runs (a ValidationError exits 2) and shows what the run gets.
    const resolved = resolveParameters(dag, given);
    const runId = values["run-id"] ?? randomUUID();
    const json = values.json === true;
    const progress = new ProgressPrinter(io, spec);
    if (!json) {
      io.stdout(`Running ${spec.name} ${spec.version} (run ${runId})\n`);
      io.stdout(`  parameters: ${formatParameters(resolved, spec)}\n`);
    }
    const failureStacks = new Map<string, string>();
    const controller = new AbortController();
    const stopListening = io.onInterrupt?.(() => controller.abort());
    // --json: the executor's events as the worker logs them, one JSON object per line.
    const events = createJsonLogger({}, (line) => io.stdout(`${line}\n`));
    let result: RunResult;
    try {
      result = await runDag(dag, {
        runId,
        parameters: given,
        signal: controller.signal,
        exposeParametersAsEnv: true,
        ...(maxParallelism === undefined ? {} : { maxParallelism }),
        onEvent: (event) => {
          if (event.event_type === "task_failed" && event.task_id && event.stack) {
            failureStacks.set(event.task_id, event.stack);
          }
          if (json) events.event(event);
          else progress.onEvent(event);
        },
      });
    } finally {
      stopListening?.();
    }

    if (!json) {
      io.stdout(`\n${summaryTable(spec, result)}\n\n`);
      io.stdout(`Run ${result.status.toLowerCase()} in ${formatDuration(result.durationMs)}.\n`);
    }
    if (result.status === "SUCCEEDED") return EXIT.ok;
    if (result.status === "CANCELLED") {
      io.stderr("dagy: error: run cancelled\n");
      return EXIT.interrupted;
    }
    const failed = result.failedTask;
    const state = failed === undefined ? undefined : result.tasks[failed];
    const message = result.error?.message ?? state?.error ?? "unknown error";
    const stack = (failed && failureStacks.get(failed)) ?? result.error?.stack;
    const attempts = state?.attempts ?? 1;
    io.stderr(
      `dagy: error: ${
        failed === undefined
          ? "run failed"
          : `task "${failed}" failed after ${attempts} attempt${attempts === 1 ? "" : "s"}`
      }: ${message}\n`,
    );
    if (stack) io.stderr(`${stack}\n`);
    return EXIT.failure;
  },
};
