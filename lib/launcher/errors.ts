/** Launcher-specific errors, beside the shared ones in lib/errors.ts. */
import { DagyError } from "../errors";

/**
 * The compute backend could not start the worker (ECS refused or had no capacity after the
 * retries, the local worker could not be spawned). The run is recorded FAILED with this message.
 */
export class TaskSubmissionError extends DagyError {
  override readonly statusCode = 503;
  constructor(
    message: string,
    /** ECS failure reasons (e.g. `RESOURCE:MEMORY`), when ECS gave any. */
    readonly reasons: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error's class name, for `DagLaunchResult.errorType`. */
export function errorType(error: unknown): string {
  return error instanceof Error ? error.name : "Error";
}
