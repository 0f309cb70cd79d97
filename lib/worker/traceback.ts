/**
 * The text of `exceptions/<org_id>/<run_id>/traceback.txt`: what failed, where, and every
 * stack the run produced, so a failure can be debugged without reading CloudWatch Logs.
 */
import type { ExecutorEvent } from "../sdk/types";

export interface TaskFailureRecord {
  readonly taskId: string;
  readonly attempt: number;
  /** `task_failed` (final) or `task_retrying` (an attempt that will be retried). */
  readonly final: boolean;
  readonly error: string;
  readonly stack?: string;
}

export interface TracebackInput {
  readonly runId: string;
  readonly orgId: string;
  readonly flowName: string;
  readonly flowVersion: string;
  /** When the failure was recorded (ISO). */
  readonly failedAt: string;
  /** The run's error_message. */
  readonly summary: string;
  /** A worker-level error (artifact, dependency package, SIGTERM, crash), if that is the cause. */
  readonly workerError?: unknown;
  readonly taskFailures: readonly TaskFailureRecord[];
}

/** Collects task failures from executor events. */
export function taskFailureFromEvent(event: ExecutorEvent): TaskFailureRecord | undefined {
  if (event.event_type !== "task_failed" && event.event_type !== "task_retrying") return undefined;
  if (event.task_id === undefined) return undefined;
  return {
    taskId: event.task_id,
    attempt: event.attempt ?? 0,
    final: event.event_type === "task_failed",
    error: event.error ?? "unknown error",
    ...(event.stack !== undefined ? { stack: event.stack } : {}),
  };
}

/** Stack of an error and of its causes. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.stack ?? `${current.name}: ${current.message}`);
      current = (current as { cause?: unknown }).cause;
    } else {
      parts.push(typeof current === "string" ? current : (JSON.stringify(current) ?? "undefined"));
      current = undefined;
    }
  }
  return parts.join("\nCaused by: ");
}

export function formatTraceback(input: TracebackInput): string {
  const lines = [
    `Run ${input.runId} of flow ${input.flowName}@${input.flowVersion} (org ${input.orgId}) FAILED at ${input.failedAt}`,
    `Error: ${input.summary}`,
    "",
  ];
  if (input.workerError !== undefined) {
    lines.push("Worker error:", describeError(input.workerError), "");
  }
  const finals = input.taskFailures.filter((f) => f.final);
  const retried = input.taskFailures.filter((f) => !f.final);
  for (const failure of finals) {
    lines.push(
      `Task ${failure.taskId} failed (attempt ${failure.attempt}):`,
      failure.stack ?? failure.error,
      "",
    );
  }
  if (retried.length > 0) {
    lines.push("Earlier attempts that were retried:");
    for (const failure of retried) {
      lines.push(
        `Task ${failure.taskId} attempt ${failure.attempt}:`,
        failure.stack ?? failure.error,
        "",
      );
    }
  }
  return lines.join("\n");
}
