/**
 * What every handler shares: the request it receives, and the parsing of what several routes
 * accept alike (the org a request names, launch fields, the Idempotency-Key header).
 */
import { ValidationError } from "../../errors";
import type { JsonLogger } from "../../log";
import type { RunRecord } from "../../persistence/records";
import type { AuthResolver } from "../auth";
import type { LogLink } from "../shape";
import { fromWireInput } from "../../launcher/request";
import { validateIdempotencyKey } from "../../persistence/validate";
import type { Caller } from "../../services/caller";
import type { LaunchInput } from "../../services/runs";
import { header, queryParams, type HttpApiEvent, type HttpResponse } from "../http";
import type { RouteName } from "../routes";
import { API_OWNED_LAUNCH_FIELDS, orgOnlyQuerySchema, parseWith } from "../schemas";

export interface ApiRequest {
  readonly event: HttpApiEvent;
  readonly params: Record<string, string>;
  readonly caller: Caller;
}

export type Handler = (req: ApiRequest) => Promise<HttpResponse>;

/** The handlers of some routes (one resource's). */
export type HandlerGroup<K extends RouteName> = Record<K, Handler>;

/** The org a request names: body `org_id` and query `org_id` must agree when both are given. */
export function requestedOrg(bodyOrg: unknown, queryOrg: string | undefined): string | undefined {
  if (bodyOrg !== undefined && typeof bodyOrg !== "string") {
    throw new ValidationError("org_id: must be a string", "org_id");
  }
  if (bodyOrg !== undefined && queryOrg !== undefined && bodyOrg !== queryOrg) {
    throw new ValidationError(
      `org_id: the body says "${bodyOrg}" but the query says "${queryOrg}"; give one`,
      "org_id",
    );
  }
  return bodyOrg ?? queryOrg;
}

export function asObject(body: unknown): Record<string, unknown> {
  return (body ?? {}) as Record<string, unknown>;
}

export function refuseApiOwnedFields(body: Record<string, unknown>, prefix = ""): void {
  for (const field of ["flow_name", ...API_OWNED_LAUNCH_FIELDS]) {
    if (field === "flow_name" && prefix !== "") continue;
    if (field in body) {
      throw new ValidationError(
        `${prefix}${field}: set by the API (${field === "flow_name" ? "from the path" : "audit trail"}); remove it from the body`,
        `${prefix}${field}`,
      );
    }
  }
}

export function idempotencyKeyOf(event: HttpApiEvent): string | undefined {
  const key = header(event, "idempotency-key");
  if (key === undefined || key === "") return undefined;
  return validateIdempotencyKey(key, "Idempotency-Key header");
}

/** A launch body through the launcher's wire schema; messages keep a field prefix. */
export function launchInput(wire: Record<string, unknown>, prefix = ""): LaunchInput {
  try {
    return fromWireInput(wire);
  } catch (error) {
    if (prefix && error instanceof ValidationError) {
      const message = error.message.replace(/^invalid launch request: /, "");
      throw new ValidationError(`${prefix}: ${message}`, `${prefix}.${error.field ?? ""}`);
    }
    throw error;
  }
}

export function orgQuery(event: HttpApiEvent): string | undefined {
  return parseWith(orgOnlyQuerySchema, queryParams(event)).org_id;
}

/** What the handlers are built with: `S`, the services the served routes call. */
export interface HandlerDependencies<S> {
  readonly services: S;
  readonly auth: AuthResolver;
  /** Where a run's logs are; default: the CloudWatch stream in `logGroup`, with a console link. */
  readonly logStreamLink?: (run: RunRecord) => LogLink;
  readonly region?: string;
  /** The worker's CloudWatch log group, for log links. */
  readonly logGroup?: string;
  readonly logger?: JsonLogger;
}
