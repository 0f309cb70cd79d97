/**
 * Ships the worker's JSON log lines to a CloudWatch Logs stream named by the run id, so the
 * guide's `aws logs get-log-events --log-group-name /ecs/dagy-worker --log-stream-name <run_id>`
 * works as written. The container's stdout still reaches CloudWatch through the awslogs driver
 * (that is what survives a crash); this stream is the per-run view.
 *
 * Shipping is best effort: a failure is reported through `onError` (the worker writes it to
 * stdout) and never fails the run.
 */
import type { CloudWatchLogsClient, InputLogEvent } from "@aws-sdk/client-cloudwatch-logs";

type CloudWatchLogsModule = typeof import("./cloudwatch-logs");
let cloudWatchLogsModule: Promise<CloudWatchLogsModule> | undefined;

/**
 * The CloudWatch Logs commands, loaded on first use: most runs do not ship logs, and loading the
 * client module would cost every worker's cold start its parse and evaluation time.
 */
function loadCloudWatchLogs(): Promise<CloudWatchLogsModule> {
  return (cloudWatchLogsModule ??= import("./cloudwatch-logs"));
}

/** PutLogEvents limits (CloudWatch Logs quotas). */
export const LOG_BATCH_LIMITS = {
  maxEvents: 10_000,
  maxBytes: 1_048_576,
  /** Bytes CloudWatch adds to each event's UTF-8 message size when counting the batch. */
  eventOverheadBytes: 26,
  /** Largest message of one event. */
  maxEventBytes: 256 * 1024 - 26,
  /** A batch may not span more than 24 hours. */
  maxSpanMs: 24 * 60 * 60 * 1000,
} as const;

export interface LogShipperOptions {
  readonly client: CloudWatchLogsClient;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** How often buffered events are sent. Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /** Buffered events beyond this are dropped, oldest first (a run that logs without end). Default 100,000. */
  readonly maxBufferedEvents?: number;
  /** Attempts per batch before it is dropped. Default 3. */
  readonly maxAttempts?: number;
  /** Reports a shipping problem; must not ship (write to stdout). */
  readonly onError?: (message: string, error?: unknown) => void;
}

interface BufferedEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly bytes: number;
}

const TRUNCATED_SUFFIX = "…[truncated]";

export class CloudWatchLogShipper {
  private readonly flushIntervalMs: number;
  private readonly maxBufferedEvents: number;
  private readonly maxAttempts: number;
  private buffer: BufferedEvent[] = [];
  private streamCreated = false;
  private failures = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: LogShipperOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxBufferedEvents = options.maxBufferedEvents ?? 100_000;
    this.maxAttempts = options.maxAttempts ?? 3;
  }

  /** Starts the periodic flush. The timer never keeps the process alive. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      void this.flush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** Buffers one log line (without its trailing newline). */
  add(message: string, timestamp: number = Date.now()): void {
    if (this.closed) return;
    let text = message;
    let bytes = Buffer.byteLength(text, "utf8");
    if (bytes > LOG_BATCH_LIMITS.maxEventBytes) {
      // Cut on bytes, then drop a possibly split trailing character.
      const keep = LOG_BATCH_LIMITS.maxEventBytes - Buffer.byteLength(TRUNCATED_SUFFIX) - 4;
      text = Buffer.from(text, "utf8")
        .subarray(0, keep)
        .toString("utf8")
        .replace(/\uFFFD+$/, "");
      text += TRUNCATED_SUFFIX;
      bytes = Buffer.byteLength(text, "utf8");
    }
    this.buffer.push({ timestamp, message: text, bytes });
    if (this.buffer.length > this.maxBufferedEvents) {
      const excess = this.buffer.length - this.maxBufferedEvents;
      this.buffer.splice(0, excess);
      this.dropped += excess;
    }
  }

  /** Sends everything buffered so far. Never rejects. Concurrent calls are serialized. */
  flush(): Promise<void> {
    this.inFlight = this.inFlight.then(() => this.drain());
    return this.inFlight;
  }

  /** Stops the timer and sends what is left. Never rejects. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
  }

  private async drain(): Promise<void> {
    if (this.dropped > 0) {
      this.report(`${this.dropped} log events were dropped: the shipping buffer was full`);
      this.dropped = 0;
    }
    while (this.buffer.length > 0) {
      if (!(await this.ensureStream())) return;
      // Events must be in timestamp order within a batch; the sort is stable.
      this.buffer.sort((a, b) => a.timestamp - b.timestamp);
      const count = batchSize(this.buffer);
      const batch = this.buffer.slice(0, count);
      const sent = await this.put(batch);
      if (sent) {
        this.buffer.splice(0, count);
        this.failures = 0;
      } else if (++this.failures >= this.maxAttempts) {
        this.buffer.splice(0, count);
        this.failures = 0;
        this.report(`dropped ${count} log events after ${this.maxAttempts} failed attempts`);
      } else {
        return; // retried at the next flush
      }
    }
  }

  private async ensureStream(): Promise<boolean> {
    if (this.streamCreated) return true;
    try {
      const { CreateLogStreamCommand } = await loadCloudWatchLogs();
      await this.options.client.send(
        new CreateLogStreamCommand({
          logGroupName: this.options.logGroupName,
          logStreamName: this.options.logStreamName,
        }),
      );
      this.streamCreated = true;
    } catch (error) {
      if ((error as { name?: string }).name === "ResourceAlreadyExistsException") {
        this.streamCreated = true;
      } else {
        this.report(
          `could not create log stream ${this.options.logStreamName} in ${this.options.logGroupName}`,
          error,
        );
        if (++this.failures >= this.maxAttempts) {
          this.report(`dropped ${this.buffer.length} log events: the log stream is unavailable`);
          this.buffer = [];
          this.failures = 0;
        }
      }
    }
    return this.streamCreated;
  }

  private async put(batch: readonly BufferedEvent[]): Promise<boolean> {
    const logEvents: InputLogEvent[] = batch.map((e) => ({
      timestamp: e.timestamp,
      message: e.message,
    }));
    try {
      const { PutLogEventsCommand } = await loadCloudWatchLogs();
      const response = await this.options.client.send(
        new PutLogEventsCommand({
          logGroupName: this.options.logGroupName,
          logStreamName: this.options.logStreamName,
          logEvents,
        }),
      );
      const rejected = response.rejectedLogEventsInfo;
      if (rejected) {
        this.report(`CloudWatch Logs rejected some events: ${JSON.stringify(rejected)}`);
      }
      return true;
    } catch (error) {
      this.report(`could not ship ${batch.length} log events`, error);
      return false;
    }
  }

  private report(message: string, error?: unknown): void {
    try {
      this.options.onError?.(message, error);
    } catch {
      // A broken reporter must not break shipping.
    }
  }
}

/** How many leading events of `events` (sorted) fit in one PutLogEvents call. */
export function batchSize(events: readonly { timestamp: number; bytes: number }[]): number {
  let bytes = 0;
  let count = 0;
  const first = events[0];
  if (!first) return 0;
  for (const event of events) {
    const size = event.bytes + LOG_BATCH_LIMITS.eventOverheadBytes;
    if (count >= LOG_BATCH_LIMITS.maxEvents) break;
    if (bytes + size > LOG_BATCH_LIMITS.maxBytes) break;
    if (event.timestamp - first.timestamp > LOG_BATCH_LIMITS.maxSpanMs) break;
    bytes += size;
    count++;
  }
  return Math.max(count, 1);
}
