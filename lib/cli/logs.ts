import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { ConfigurationError } from "../errors";
import { logDirOf } from "../local/state";
import { onePositional, parseCommandArgs } from "./args";
import { EXIT, formatDuration, type CliCommand, type CliIO } from "./io";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, sleep, targetOf, TERMINAL } from "./lifecycle";
import type { Target } from "./target";

const usage = `Usage: dagy logs <run_id> [options]

Prints a run's worker log: the executor's JSON events rendered one per line. Locally it reads
<data-dir>/logs/<run_id>.log; on a deployed stack, the run's CloudWatch Logs stream in
DAGY_ECS_LOG_GROUP (your AWS credentials need logs:GetLogEvents).

Options:
  -f, --follow      Keep printing new lines until the run finishes (Ctrl-C stops following).
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

/** Reads new complete lines from a growing file. */
class FileTail {
  private offset = 0;
  private partial = "";
  constructor(readonly file: string) {}

  async read(): Promise<string[]> {
    let size: number;
    try {
      size = (await stat(this.file)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    if (size <= this.offset) return [];
    const handle = await open(this.file, "r");
    try {
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buffer.subarray(0, bytesRead).toString("utf8");
      const lines = text.split("\n");
      this.partial = lines.pop() ?? "";
      return lines.filter((l) => l !== "");
    } finally {
      await handle.close();
    }
  }

  /** The last line, even without its newline (the run is over). */
  flush(): string[] {
    const rest = this.partial;
    this.partial = "";
    return rest === "" ? [] : [rest];
  }
}

type LineSource = { read(): Promise<string[]>; flush(): string[] };

function sourceFor(target: Target, runId: string): LineSource {
  if (target.kind === "remote") {
    throw new ConfigurationError(
      "logs of a remote API's runs need its logs route, which this version of the CLI does not use yet",
    );
  }
  const logDir = target.state?.logDir ?? logDirOf(target.dataDir);
  return new FileTail(join(logDir, `${runId}.log`));
}

export const command: CliCommand = {
  name: "logs",
  usage,
  async run(args, io: CliIO) {
    const parsed = parseCommandArgs({ name: "logs", usage }, args, io, {
      ...COMMON_OPTIONS,
      follow: { type: "boolean", short: "f" },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const runId = onePositional("logs", positionals, "run id (dagy logs <run_id>)");
    const target = targetOf(values, io);
    // The API says whether the run exists and when it is over; a stopped local platform
    // still leaves its log files readable.
    const reachable = target.kind !== "local" || target.state !== undefined;
    const client = reachable ? await apiClientFor(target) : undefined;
    const source = sourceFor(target, runId);
    const print = (lines: readonly string[]) => {
      for (const line of lines) io.stdout(`${values.json ? line : renderLogLine(line)}\n`);
    };

    let printed = 0;
    const first = await source.read();
    print(first);
    printed += first.length;
    if (!values.follow) {
      const tail = source.flush();
      print(tail);
      printed += tail.length;
      if (printed === 0) {
        const run = await client?.getRun(runId);
        if (client !== undefined && run === undefined) {
          io.stderr(`dagy: error: Run not found: ${runId}\n`);
          return EXIT.failure;
        }
        io.stderr(`No log lines for run ${runId} yet${run ? ` (status ${run.status})` : ""}.\n`);
      }
      return EXIT.ok;
    }
    if (client === undefined) {
      io.stderr(
        "The local platform is not running: printing what the log holds, then following until Ctrl-C.\n",
      );
    }
    let interrupted = false;
    const stopListening = io.onInterrupt?.(() => {
      interrupted = true;
    });
    try {
      let lastCheck = 0;
      while (!interrupted) {
        print(await source.read());
        if (client !== undefined && Date.now() - lastCheck > 500) {
          lastCheck = Date.now();
          const run = await client.getRun(runId);
          if (run === undefined) {
            io.stderr(`dagy: error: Run not found: ${runId}\n`);
            return EXIT.failure;
          }
          if (TERMINAL.has(run.status)) {
            // The worker's last lines may land just after its status.
            await sleep(target.kind === "remote" ? 2000 : 100);
            print(await source.read());
            print(source.flush());
            io.stderr(
              `Run ${runId} ${run.status}${run.error_message ? `: ${run.error_message}` : ""}\n`,
            );
            return run.status === "SUCCEEDED" ? EXIT.ok : EXIT.failure;
          }
        }
        await sleep(target.kind === "remote" ? 1000 : 100);
      }
      return EXIT.interrupted;
    } finally {
      stopListening?.();
    }
  },
};
