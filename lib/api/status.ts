/**
 * Error code -> HTTP status: the only place the API turns a domain error into a status. The
 * domain knows codes, never statuses; a code missing here is a compile error.
 */
import type { ErrorCode } from "../errors";

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  definition_invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  run_not_found: 404,
  flow_not_found: 404,
  deployment_not_found: 404,
  dep_package_not_found: 404,
  schedule_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  artifact_invalid: 422,
  configuration: 500,
  internal: 500,
  // The run exists but its worker could not be started (ECS refused): the upstream failed.
  launch_failed: 502,
  unavailable: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}
