/**
 * The one logger factory: JSON lines, one object per line, with persistent keys (`run_id`,
 * `org_id`, `flow_name`, …) set once, and secret values redacted from every line.
 */
import type { ExecutorEvent } from "./sdk/types";

export type LogLevel = "info" | "warn" | "error";

export interface JsonLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Writes an executor event as one line: base fields, then the event's own fields. */
  event(event: ExecutorEvent): void;
  /** A logger whose lines also carry `fields`; it shares this logger's output and redactions. */
  child(fields: Record<string, unknown>): JsonLogger;
  /**
   * Never write these values again (from this logger, its parents or its children): each
   * occurrence, raw or JSON-escaped, becomes `***`. Empty strings are ignored.
   */
  redact(values: Iterable<string>): void;
}

export interface JsonLoggerOptions {
  /** Secret values to redact from the start. */
  readonly redact?: Iterable<string>;
}

export const REDACTED = "***";

/** Removes secret values from text. */
export type Redact = (text: string) => string;

const unchanged: Redact = (text) => text;

/**
 * The one redactor: replaces every occurrence of each value with `***` — both as written and
 * as it appears inside a JSON string (quotes, backslashes and control characters escaped),
 * since log lines are JSON. Longer values win, so a secret containing another is replaced
 * whole. Empty strings are ignored.
 */
export function createRedactor(secretValues: Iterable<string>): Redact {
  const forms = new Set<string>();
  for (const value of secretValues) {
    if (typeof value !== "string" || value === "") continue;
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
  }
  if (forms.size === 0) return unchanged;
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  const pattern = new RegExp(
    sorted.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"),
    "g",
  );
  return (text) => text.replace(pattern, () => REDACTED);
}

/** Shared by a logger and all its children so a redaction added anywhere applies everywhere. */
class Redactor {
  private readonly values = new Set<string>();
  apply: Redact = unchanged;

  add(values: Iterable<string>): void {
    for (const value of values) this.values.add(value);
    this.apply = createRedactor(this.values);
  }
}

/** JSON.stringify that never throws: errors keep name/message/stack, cycles and bigints survive. */
export function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, function (_key, v: unknown) {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Error) {
      return { name: v.name, message: v.message, ...(v.stack ? { stack: v.stack } : {}) };
    }
    if (typeof v === "object" && v !== null) {
      if (seen.has(v)) return "[Circular]";
      seen.add(v);
    }
    return v;
  });
}

/** Line writers for `createJsonLogger`: one line per call, newline-terminated. */
export function stdoutLines(line: string): void {
  process.stdout.write(`${line}\n`);
}
export function stderrLines(line: string): void {
  process.stderr.write(`${line}\n`);
}

class Logger implements JsonLogger {
  constructor(
    private readonly base: Record<string, unknown>,
    private readonly write: (line: string) => void,
    private readonly redactor: Redactor,
  ) {}

  private line(record: Record<string, unknown>): void {
    this.write(this.redactor.apply(safeStringify(record)));
  }

  private log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.line({ timestamp: new Date().toISOString(), level, message, ...this.base, ...fields });
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warn", message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields);
  }

  event(event: ExecutorEvent): void {
    this.line({ ...this.base, ...event });
  }

  child(fields: Record<string, unknown>): JsonLogger {
    return new Logger({ ...this.base, ...fields }, this.write, this.redactor);
  }

  redact(values: Iterable<string>): void {
    this.redactor.add(values);
  }
}

/**
 * Creates a logger writing one JSON object per line to `write` (default: stdout).
 * Log lines are `{timestamp, level, message, ...baseFields, ...fields}`.
 */
export function createJsonLogger(
  baseFields: Record<string, unknown>,
  write: (line: string) => void = stdoutLines,
  options: JsonLoggerOptions = {},
): JsonLogger {
  const redactor = new Redactor();
  if (options.redact !== undefined) redactor.add(options.redact);
  return new Logger({ ...baseFields }, write, redactor);
}
