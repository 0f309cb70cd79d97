/**
 * Typed errors with a stable `code`. Each carries a message a user can act on; the edges map
 * the code (never the class name — the Lambda bundles are minified, so `name` does not survive)
 * to an HTTP status (lib/api/status.ts) or an exit code (lib/cli/io.ts). Domain errors know
 * nothing of HTTP. Never send a stack trace to a client.
 */

/** Every code an error may carry; the edges hold one mapping each from these. */
export const ERROR_CODES = [
  "invalid_request",
  "definition_invalid",
  "unauthorized",
  "forbidden",
  "not_found",
  "run_not_found",
  "flow_not_found",
  "deployment_not_found",
  "dep_package_not_found",
  "schedule_not_found",
  "method_not_allowed",
  "conflict",
  "payload_too_large",
  "unsupported_media_type",
  "artifact_invalid",
  "configuration",
  "launch_failed",
  "unavailable",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class DagyError extends Error {
  /** Stable, machine-readable: what the edges map, what clients may branch on. */
  readonly code: ErrorCode = "internal";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The code of any thrown value: a DagyError's own, else `internal`. */
export function errorCode(error: unknown): ErrorCode {
  return error instanceof DagyError ? error.code : "internal";
}

/** Invalid input: the message names the field and what is allowed. Nothing was written. */
export class ValidationError extends DagyError {
  override readonly code: ErrorCode = "invalid_request";
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class InvalidLaunchRequestError extends ValidationError {}

/** A flow definition error (cycle, duplicate id, foreign reference, bad parameter declaration). */
export class DagDefinitionError extends DagyError {
  override readonly code: ErrorCode = "definition_invalid";
}

/** The request carries no usable identity. */
export class UnauthorizedError extends DagyError {
  override readonly code: ErrorCode = "unauthorized";
}

/** The caller may not touch this resource (another org's flow, run or package). */
export class ForbiddenError extends DagyError {
  override readonly code: ErrorCode = "forbidden";
}

export class NotFoundError extends DagyError {
  override readonly code: ErrorCode = "not_found";
}
export class FlowNotFoundError extends NotFoundError {
  override readonly code: ErrorCode = "flow_not_found";
}
export class RunNotFoundError extends NotFoundError {
  override readonly code: ErrorCode = "run_not_found";
  constructor(runId: string) {
    super(`Run not found: ${runId}`);
  }
}
export class DeploymentNotFoundError extends NotFoundError {
  override readonly code: ErrorCode = "deployment_not_found";
}
export class DepPackageNotFoundError extends NotFoundError {
  override readonly code: ErrorCode = "dep_package_not_found";
}
export class ScheduleNotFoundError extends NotFoundError {
  override readonly code: ErrorCode = "schedule_not_found";
}

/** A known path asked with a method it does not serve. */
export class MethodNotAllowedError extends DagyError {
  override readonly code: ErrorCode = "method_not_allowed";
  constructor(
    method: string,
    path: string,
    readonly allowed: readonly string[],
  ) {
    super(`Method ${method} is not allowed on ${path}; allowed: ${allowed.join(", ")}`);
  }
}

/** The write conflicts with what is stored (same version, other bytes; terminal status; ...). */
export class ConflictError extends DagyError {
  override readonly code: ErrorCode = "conflict";
}

/** A body or value over a documented size limit. */
export class PayloadTooLargeError extends DagyError {
  override readonly code: ErrorCode = "payload_too_large";
}

/** Configuration is missing or invalid; the message names the variable or field. */
export class ConfigurationError extends DagyError {
  override readonly code: ErrorCode = "configuration";
}

/** An artifact or package failed verification (checksum, unsafe archive, too large). */
export class ArtifactError extends DagyError {
  override readonly code: ErrorCode = "artifact_invalid";
}

/**
 * The compute backend could not start the worker (ECS refused or had no capacity after the
 * retries, the local worker could not be spawned). The run is recorded FAILED with this message.
 */
export class TaskSubmissionError extends DagyError {
  override readonly code: ErrorCode = "launch_failed";
  constructor(
    message: string,
    /** ECS failure reasons (e.g. `RESOURCE:MEMORY`), when ECS gave any. */
    readonly reasons: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A dependency is briefly unable to serve (throttled past the retries, no capacity). */
export class UnavailableError extends DagyError {
  override readonly code: ErrorCode = "unavailable";
}
