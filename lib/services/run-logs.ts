/**
 * Where a run's log and traceback are read from: the worker's JSON lines in a local file (the
 * embedded platform) or its CloudWatch Logs stream (AWS), and the traceback object in the
 * traces bucket. A position is opaque to clients: a byte offset locally, CloudWatch's forward
 * token in AWS.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { NotFoundError, ValidationError } from "../errors";
import type { RunRecord } from "../persistence/records";
import { TERMINAL_STATUSES } from "../persistence/schema";
import { tracebackKey } from "../storage/keys";
import { formatS3Uri } from "../storage/s3-uri";

export interface RunLogPage {
  /** Parsed JSON log lines (a line that is not JSON comes as `{ message: <line> }`). */
  readonly events: readonly Record<string, unknown>[];
  /** Pass back to continue after the last event returned. */
  readonly nextPosition: string;
  /** The run is over and every line has been returned. */
  readonly complete: boolean;
}

export interface RunLogSource {
  read(
    run: RunRecord,
    options: { readonly position?: string; readonly taskId?: string },
  ): Promise<RunLogPage>;
}

export interface TracebackSource {
  read(run: RunRecord): Promise<string>;
}

/** Most bytes one local read returns; the client continues from `next_position`. */
export const LOG_PAGE_MAX_BYTES = 1024 * 1024;

function isTerminal(run: RunRecord): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(run.status);
}

function parseLine(line: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Not JSON (a crash's stderr, say): still the run's log.
  }
  return { message: line };
}

function keep(taskId: string | undefined) {
  return (event: Record<string, unknown>) => taskId === undefined || event.task_id === taskId;
}

/** The embedded platform: `<logDir>/<run_id>.log`, one JSON object per line. */
export class FileRunLogSource implements RunLogSource {
  constructor(private readonly logDir: string) {}

  async read(
    run: RunRecord,
    options: { readonly position?: string; readonly taskId?: string },
  ): Promise<RunLogPage> {
    const offset = parseOffset(options.position);
    let handle;
    try {
      handle = await open(join(this.logDir, `${run.run_id}.log`), "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      // The worker has not written its first line yet.
      return { events: [], nextPosition: String(offset), complete: isTerminal(run) };
    }
    try {
      const { size } = await handle.stat();
      const length = Math.max(0, Math.min(size - offset, LOG_PAGE_MAX_BYTES));
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      let text = buffer.subarray(0, bytesRead).toString("utf8");
      const atEnd = offset + bytesRead >= size;
      // A partial last line waits for its newline, unless the run is over.
      const lastNewline = text.lastIndexOf("\n");
      if (!(atEnd && isTerminal(run))) text = lastNewline < 0 ? "" : text.slice(0, lastNewline + 1);
      const consumed = Buffer.byteLength(text, "utf8");
      const events = text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map(parseLine)
        .filter(keep(options.taskId));
      const next = offset + consumed;
      return { events, nextPosition: String(next), complete: isTerminal(run) && next >= size };
    } finally {
      await handle.close();
    }
  }
}

function parseOffset(position: string | undefined): number {
  if (position === undefined || position === "") return 0;
  if (!/^\d{1,15}$/.test(position)) {
    throw new ValidationError("position: must be a value returned as next_position", "position");
  }
  return Number(position);
}

/** AWS: the run's stream in the worker log group (GetLogEvents, forward tokens). */
export class CloudWatchRunLogSource implements RunLogSource {
  constructor(
    private readonly logs: CloudWatchLogsClient,
    private readonly logGroup: string,
  ) {}

  async read(
    run: RunRecord,
    options: { readonly position?: string; readonly taskId?: string },
  ): Promise<RunLogPage> {
    const stream = run.log_stream ?? run.run_id;
    let answer;
    try {
      // https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html
      // Up to 1 MB or 10,000 events a call; the forward token equals the one sent at the end.
      answer = await this.logs.send(
        new GetLogEventsCommand({
          logGroupName: this.logGroup,
          logStreamName: stream,
          startFromHead: true,
          ...(options.position ? { nextToken: options.position } : {}),
        }),
      );
    } catch (error) {
      // The stream appears with the worker's first line.
      if ((error as Error).name === "ResourceNotFoundException") {
        return { events: [], nextPosition: options.position ?? "", complete: isTerminal(run) };
      }
      throw error;
    }
    const lines = (answer.events ?? []).map((e) => (e.message ?? "").trimEnd());
    const next = answer.nextForwardToken ?? options.position ?? "";
    return {
      events: lines
        .filter((l) => l !== "")
        .map(parseLine)
        .filter(keep(options.taskId)),
      nextPosition: next,
      complete: isTerminal(run) && lines.length === 0,
    };
  }
}

/** Reads `exceptions/<org>/<run>/traceback.txt` from the traces bucket. */
export class ObjectTracebackSource implements TracebackSource {
  constructor(
    private readonly store: {
      get(uri: string): Promise<Buffer>;
      exists(uri: string): Promise<boolean>;
    },
    private readonly tracesBucket: string,
  ) {}

  async read(run: RunRecord): Promise<string> {
    const uri =
      run.traceback_uri ?? formatS3Uri(this.tracesBucket, tracebackKey(run.org_id, run.run_id));
    if (!(await this.store.exists(uri))) {
      throw new NotFoundError(`Traceback not found: run ${run.run_id} recorded none`);
    }
    return (await this.store.get(uri)).toString("utf8");
  }
}
