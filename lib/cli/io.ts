import type { ErrorCode } from "../errors";

/**
 * What a CLI command may touch of its process. `bin/dagy.ts` builds it from `process`; tests
 * build one that captures output. Commands never read `process.*` themselves.
 */
export interface CliIO {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Writes text as is (callers add newlines). */
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /**
   * Calls `handler` on Ctrl-C (SIGINT) until the returned function is called. Absent: the
   * command cannot be interrupted gracefully.
   */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

/** Wrong command line: exit code 2, a one-line message, and a pointer to the help. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose `--help` to point at. */
    readonly command?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** A command as the `dagy` entry point sees it. Modules in lib/cli export one each. */
export interface CliCommand {
  readonly name: string;
  /** Full `--help` text. */
  readonly usage: string;
  /** Runs with the arguments after the command name; resolves with the exit code. */
  run(args: string[], io: CliIO): Promise<number>;
}

export const EXIT = {
  ok: 0,
  /** The flow failed, or the command could not do its work (build error, bad artifact, ...). */
  failure: 1,
  /** Usage or validation error: nothing ran. */
  usage: 2,
  /** Interrupted by Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;

/**
 * Error code -> exit code: the only place the CLI turns an error (its own, or the API's by the
 * `code` of its reply) into an exit code. A code missing here is a compile error.
 */
export const EXIT_FOR_CODE: Readonly<Record<ErrorCode, number>> = {
  // The request was refused as it stands: nothing ran.
  invalid_request: EXIT.usage,
  definition_invalid: EXIT.failure,
  unauthorized: EXIT.failure,
  forbidden: EXIT.failure,
  not_found: EXIT.failure,
  run_not_found: EXIT.failure,
  flow_not_found: EXIT.failure,
  deployment_not_found: EXIT.failure,
  dep_package_not_found: EXIT.failure,
  schedule_not_found: EXIT.failure,
  method_not_allowed: EXIT.failure,
  conflict: EXIT.failure,
  payload_too_large: EXIT.failure,
  unsupported_media_type: EXIT.failure,
  artifact_invalid: EXIT.failure,
  configuration: EXIT.failure,
  launch_failed: EXIT.failure,
  unavailable: EXIT.failure,
  internal: EXIT.failure,
};

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m ${String(seconds).padStart(2, "0")}s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Left-aligned columns separated by two spaces; the first row is the header. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
    )
    .join("\n");
}
