import { onePositional, parseCommandArgs } from "./args";
import { EXIT, formatDuration, type CliCommand, type CliIO } from "./io";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, orgOf, sleep, targetOf } from "./lifecycle";

const usage = `Usage: dagy logs <run_id> [options]

Prints a run's worker log, read through the API (locally the worker's log file, on AWS its
CloudWatch Logs stream): the executor's JSON events rendered one per line.

Options:
  -f, --follow      Keep printing new lines until the run finishes (Ctrl-C stops following).
      --task <id>   Only this task's lines.
      --json        Print the raw JSON lines.
${COMMON_USAGE}`;

function clock(iso: unknown): string {
  if (typeof iso !== "string") return "            ";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

const HIDDEN = new Set([
  "timestamp",
  "event_type",
  "run_id",
  "org_id",
  "flow_name",
  "flow_version",
  "correlation_id",
  "task_id",
  "level",
  "message",
  "attempt",
  "error",
  "stack",
  "duration_ms",
  "environment",
  "component",
]);

/** Longer non-JSON lines (a minified bundle quoted in a crash) are cut; --json shows them whole. */
const MAX_PLAIN_LINE = 2000;

function plain(line: string): string {
  return line.length <= MAX_PLAIN_LINE
    ? line
    : `${line.slice(0, MAX_PLAIN_LINE)}… [${line.length - MAX_PLAIN_LINE} more characters; --json shows all]`;
}

/** One log line, readable: time, event, task, what happened. Non-JSON lines pass through. */
export function renderLogLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return plain(line);
    record = parsed as Record<string, unknown>;
  } catch {
    return plain(line);
  }
  const event = typeof record.event_type === "string" ? record.event_type : "";
  const level = typeof record.level === "string" ? record.level : "";
  const task = typeof record.task_id === "string" ? record.task_id : "";
  const attempt =
    typeof record.attempt === "number" && record.attempt > 1 ? ` (attempt ${record.attempt})` : "";
  const parts: string[] = [];
  if (typeof record.message === "string") parts.push(record.message);
  if (typeof record.duration_ms === "number")
    parts.push(`in ${formatDuration(record.duration_ms)}`);
  if (typeof record.error === "string") parts.push(record.error);
  if (typeof record.retry_in_ms === "number")
    parts.push(`retrying in ${formatDuration(record.retry_in_ms)}`);
  const rest = Object.entries(
    event === "task_log" && record.fields !== null && typeof record.fields === "object"
      ? (record.fields as Record<string, unknown>)
      : Object.fromEntries(
          Object.entries(record).filter(
            ([k]) => !HIDDEN.has(k) && k !== "fields" && k !== "retry_in_ms",
          ),
        ),
  )
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const label = event === "task_log" ? level || "info" : event || level || "log";
  const text = [...parts, ...rest].join("  ");
  return `${clock(record.timestamp)}  ${label.padEnd(15)} ${task ? `${task}${attempt}  ` : attempt}${text}`.trimEnd();
}

/** A log event as the API returns it, back to the JSON line the worker wrote. */
function lineOf(event: unknown): string {
  return typeof event === "string" ? event : JSON.stringify(event);
}

export const command: CliCommand = {
  name: "logs",
  usage,
  async run(args, io: CliIO) {
    const parsed = parseCommandArgs({ name: "logs", usage }, args, io, {
      ...COMMON_OPTIONS,
      follow: { type: "boolean", short: "f" },
      task: { type: "string" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const runId = onePositional("logs", positionals, "run id (dagy logs <run_id>)");
    const orgId = orgOf(values, io);
    const target = targetOf(values, io);
    const client = await apiClientFor(target);
    const pause = target.kind === "remote" ? 1000 : 200;
    let position: string | undefined;
    let printed = 0;

    /** Reads every page available now; true once the run is over and all is read. */
    const readAvailable = async (): Promise<boolean> => {
      for (;;) {
        const page = await client.getRunLogs(runId, {
          orgId,
          ...(position !== undefined ? { position } : {}),
          ...(values.task !== undefined ? { taskId: values.task } : {}),
        });
        for (const event of page.events) {
          const line = lineOf(event);
          io.stdout(`${values.json ? line : renderLogLine(line)}\n`);
        }
        printed += page.events.length;
        const moved = page.next_position !== null && page.next_position !== position;
        if (page.next_position !== null) position = page.next_position;
        if (page.complete) return true;
        if (page.events.length === 0 || !moved) return false;
      }
    };

    if (!values.follow) {
      await readAvailable();
      if (printed === 0) {
        const run = await client.getRun(runId, orgId);
        io.stderr(`No log lines for run ${runId} yet${run ? ` (status ${run.status})` : ""}.\n`);
      }
      return EXIT.ok;
    }
    let interrupted = false;
    const stopListening = io.onInterrupt?.(() => {
      interrupted = true;
    });
    try {
      while (!interrupted) {
        if (await readAvailable()) {
          const run = await client.getRun(runId, orgId);
          if (run === undefined) return EXIT.failure;
          io.stderr(
            `Run ${runId} ${run.status}${run.error_message ? `: ${run.error_message}` : ""}\n`,
          );
          return run.status === "SUCCEEDED" ? EXIT.ok : EXIT.failure;
        }
        await sleep(pause);
      }
      return EXIT.interrupted;
    } finally {
      stopListening?.();
    }
  },
};
