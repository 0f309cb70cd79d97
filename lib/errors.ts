/**
 * Typed errors. Each carries a message a user can act on; the edges (HTTP API, CLI, launch
 * handler) map them to status codes and exit codes. Never send a stack trace to a client.
 */
export class DagyError extends Error {
  /** HTTP status the API answers with. */
  readonly statusCode: number = 500;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid input: the message names the field and what is allowed. Nothing was written. */
export class ValidationError extends DagyError {
  override readonly statusCode = 400;
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
  override readonly statusCode = 400;
}

export class NotFoundError extends DagyError {
  override readonly statusCode = 404;
}
export class FlowNotFoundError extends NotFoundError {}
export class RunNotFoundError extends NotFoundError {
  constructor(runId: string) {
    super(`Run not found: ${runId}`);
  }
}
export class DeploymentNotFoundError extends NotFoundError {}
export class DepPackageNotFoundError extends NotFoundError {}

/** The write conflicts with what is stored (same version, other bytes; terminal status; ...). */
export class ConflictError extends DagyError {
  override readonly statusCode = 409;
}

/** The caller may not touch this resource (another org's flow, run or package). */
export class ForbiddenError extends DagyError {
  override readonly statusCode = 403;
}

/** Configuration is missing or invalid; the message names the variable or field. */
export class ConfigurationError extends DagyError {}

/** An artifact or package failed verification (checksum, unsafe archive, too large). */
export class ArtifactError extends DagyError {
  override readonly statusCode = 422;
}
