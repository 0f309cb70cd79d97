/**
 * The HTTP API as a service: routing, request validation and response shaping, with every
 * dependency passed in. `lambda/api.ts` builds it once per process; tests and the local platform
 * build it over their own clients.
 *
 * Routes (snake_case JSON):
 *   POST   /flows/{flowName}/runs     launch one run            200 {run_id, task_arn, success}
 *   GET    /runs/{runId}              run status                200 | 404 {"error":"Run not found"}
 *   GET    /runs                      list (org_id, flow_name, status, limit, next_token)
 *   POST   /runs/{runId}/cancel       request cancellation      200 {run_id, status, cancel_requested}
 *   POST   /runs/batch                launch up to 100 runs     200 {results: [...]} in order
 *   GET    /flows                     the org's flows
 *   GET    /flows/{flowName}/versions a flow's versions
 *   GET    /schedules                 the org's schedules
 *   POST   /schedules                 create or replace a schedule
 *   DELETE /schedules/{name}          delete a schedule
 */
import { randomUUID } from "node:crypto";
import { DagyError, errorCode, NotFoundError, RunNotFoundError, ValidationError } from "../errors";
import { httpStatusOf } from "./status";
import { fromWire, toWire } from "../launcher/request";
import type {
  BatchLaunchCommon,
  BatchLaunchRequest,
  CancelRunOptions,
} from "../launcher/dag-launcher";
import type { DagLaunchRequest, DagLaunchResult } from "../launcher/types";
import type { JsonLogger } from "../log";
import type { Persistence } from "../persistence/persistence";
import type { RunRecord } from "../persistence/records";
import { validateIdempotencyKey } from "../persistence/validate";
import { buildLaunchEvent } from "../schedules/launch-event";
import type { ScheduleService } from "../schedules/types";
import type { AuthResolver } from "./auth";
import {
  header,
  jsonResponse,
  parseJsonBody,
  queryParams,
  type HttpApiEvent,
  type HttpResponse,
} from "./http";
import { MethodNotAllowedError, matchRoute, pathWithoutStage, type Route } from "./router";
import {
  API_OWNED_LAUNCH_FIELDS,
  batchBodySchema,
  cancelBodySchema,
  DEFAULT_PAGE_SIZE,
  listRunsQuerySchema,
  orgOnlyQuerySchema,
  parseWith,
  SCHEDULE_FIELDS,
  scheduleFieldsSchema,
} from "./schemas";
import {
  batchItemBody,
  cloudWatchLogLink,
  flowVersionBody,
  launchBody,
  runBody,
  runSummary,
  scheduleBody,
  type LogLink,
} from "./shape";

export type { AuthResolver } from "./auth";
export { createAuthResolver, iamAuthResolver, jwtAuthResolver, UnauthorizedError } from "./auth";
export type { HttpApiEvent, HttpResponse } from "./http";
export { MAX_BATCH_REQUESTS } from "./schemas";

/** What the API needs from the launcher (DagLauncher satisfies it). */
export interface ApiLauncher {
  launch(request: DagLaunchRequest): Promise<DagLaunchResult>;
  launchBatch(
    requests: readonly BatchLaunchRequest[],
    common: BatchLaunchCommon,
    options?: { readonly concurrency?: number },
  ): Promise<DagLaunchResult[]>;
  getRunStatus(
    runId: string,
    options?: { readonly orgId?: string },
  ): Promise<RunRecord | undefined>;
  cancelRun(runId: string, options?: CancelRunOptions): Promise<RunRecord>;
}

export interface ApiDependencies {
  readonly launcher: ApiLauncher;
  readonly persistence: Persistence;
  /** Absent: the schedule routes answer 404 (schedules are not enabled in this deployment). */
  readonly schedules?: ScheduleService;
  readonly auth: AuthResolver;
  /** Environment launches default to (`develop`, `staging`, `production`). */
  readonly environment: string;
  /** Where a run's logs are; default: the CloudWatch stream in `logGroup`, with a console link. */
  readonly logStreamLink?: (run: RunRecord) => LogLink;
  readonly region?: string;
  /** The worker's CloudWatch log group, for log links. */
  readonly logGroup?: string;
  readonly logger?: JsonLogger;
  /** Parallel RunTask calls in POST /runs/batch. Default 10. */
  readonly batchConcurrency?: number;
}

export interface Api {
  handle(event: HttpApiEvent): Promise<HttpResponse>;
}

type RouteName =
  | "launchRun"
  | "listFlows"
  | "listFlowVersions"
  | "listRuns"
  | "launchBatch"
  | "getRun"
  | "cancelRun"
  | "listSchedules"
  | "putSchedule"
  | "deleteSchedule";

/** Literal paths before parameterized ones. */
export const ROUTES: readonly Route<RouteName>[] = [
  { name: "launchRun", method: "POST", path: "/flows/{flowName}/runs" },
  { name: "listFlows", method: "GET", path: "/flows" },
  { name: "listFlowVersions", method: "GET", path: "/flows/{flowName}/versions" },
  { name: "listRuns", method: "GET", path: "/runs" },
  { name: "launchBatch", method: "POST", path: "/runs/batch" },
  { name: "getRun", method: "GET", path: "/runs/{runId}" },
  { name: "cancelRun", method: "POST", path: "/runs/{runId}/cancel" },
  { name: "listSchedules", method: "GET", path: "/schedules" },
  { name: "putSchedule", method: "POST", path: "/schedules" },
  { name: "deleteSchedule", method: "DELETE", path: "/schedules/{name}" },
];

const RUN_NOT_FOUND_BODY = { error: "Run not found" };

interface Request {
  readonly event: HttpApiEvent;
  readonly params: Record<string, string>;
}

/** The org a request names: body `org_id` and query `org_id` must agree when both are given. */
function requestedOrg(bodyOrg: unknown, queryOrg: string | undefined): string | undefined {
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

function asObject(body: unknown): Record<string, unknown> {
  return (body ?? {}) as Record<string, unknown>;
}

function refuseApiOwnedFields(body: Record<string, unknown>, prefix = ""): void {
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

function idempotencyKeyOf(event: HttpApiEvent): string | undefined {
  const key = header(event, "idempotency-key");
  if (key === undefined || key === "") return undefined;
  return validateIdempotencyKey(key, "Idempotency-Key header");
}

/** Validates a launch through the launcher's wire schema; messages keep a field prefix. */
function launchRequestFromWire(wire: Record<string, unknown>, prefix = ""): DagLaunchRequest {
  try {
    return fromWire(wire);
  } catch (error) {
    if (prefix && error instanceof ValidationError) {
      const message = error.message.replace(/^invalid launch request: /, "");
      throw new ValidationError(`${prefix}: ${message}`, `${prefix}.${error.field ?? ""}`);
    }
    throw error;
  }
}

/** Status of a launch that did not start a worker, from the error code the launcher reports. */
export function launchFailureStatus(result: DagLaunchResult): number {
  return httpStatusOf(result.errorCode ?? "launch_failed");
}

export function createApi(deps: ApiDependencies): Api {
  const logLink =
    deps.logStreamLink ??
    ((run: RunRecord) =>
      cloudWatchLogLink(run, {
        ...(deps.region ? { region: deps.region } : {}),
        ...(deps.logGroup ? { logGroup: deps.logGroup } : {}),
      }));

  /** Reads a run the caller may see; anything else is the guide's 404. */
  async function visibleRun(runId: string, orgId: string | undefined): Promise<RunRecord> {
    const run = await deps.launcher.getRunStatus(runId, orgId !== undefined ? { orgId } : {});
    if (!run) throw new RunNotFoundError(runId);
    return run;
  }

  function requireSchedules(): ScheduleService {
    if (!deps.schedules) {
      throw new NotFoundError("Schedules are not enabled in this deployment");
    }
    return deps.schedules;
  }

  const handlers: Record<RouteName, (req: Request) => Promise<HttpResponse>> = {
    async launchRun({ event, params }) {
      const body = asObject(parseJsonBody(event));
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      refuseApiOwnedFields(body);
      const orgId = deps.auth.resolveOrg(event, requestedOrg(body.org_id, query.org_id), {
        required: true,
      }) as string;
      const idempotencyKey = idempotencyKeyOf(event);
      const request = launchRequestFromWire({
        environment: deps.environment,
        ...body,
        flow_name: params.flowName,
        org_id: orgId,
        trigger_source: "api",
        triggered_by: event.requestContext.http.sourceIp,
        ...(idempotencyKey !== undefined ? { idempotency_key: idempotencyKey } : {}),
      });
      const result = await deps.launcher.launch(request);
      if (result.success) return jsonResponse(200, launchBody(result));
      const status = launchFailureStatus(result);
      // Nothing launched for a reason the caller can fix (unknown flow, ...): just the error.
      if (status < 500)
        return jsonResponse(status, { error: result.errorMessage ?? "Launch failed" });
      // The run exists but its task could not be started (ECS refused, no capacity): 502.
      return jsonResponse(status, launchBody(result));
    },

    async getRun({ event, params }) {
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, query.org_id, { required: false });
      const run = await visibleRun(params.runId as string, orgId);
      return jsonResponse(200, runBody(run, logLink(run), deps.region));
    },

    async listRuns({ event }) {
      const query = parseWith(listRunsQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, query.org_id, { required: true }) as string;
      const page = await deps.persistence.runs.list({
        orgId,
        ...(query.flow_name !== undefined ? { flowName: query.flow_name } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        ...(query.next_token !== undefined ? { nextToken: query.next_token } : {}),
      });
      return jsonResponse(200, {
        runs: page.items.map(runSummary),
        next_token: page.nextToken ?? null,
      });
    },

    async cancelRun({ event, params }) {
      const body = parseWith(cancelBodySchema, parseJsonBody(event) ?? {});
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, requestedOrg(body.org_id, query.org_id), {
        required: false,
      });
      // Unknown run or another org's: RunNotFoundError (the guide's 404); terminal: 409.
      const run = await deps.launcher.cancelRun(params.runId as string, {
        ...(orgId !== undefined ? { orgId } : {}),
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
      });
      return jsonResponse(200, {
        run_id: run.run_id,
        status: run.status,
        cancel_requested: run.cancel_requested ?? false,
      });
    },

    async launchBatch({ event }) {
      const raw = asObject(parseJsonBody(event));
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const body = parseWith(batchBodySchema, raw);
      const orgId = deps.auth.resolveOrg(event, requestedOrg(body.org_id, query.org_id), {
        required: true,
      }) as string;
      const idempotencyKey = idempotencyKeyOf(event);
      const requests = body.requests.map((item, index) => {
        const prefix = `requests[${index}]`;
        if ("org_id" in item) {
          throw new ValidationError(
            `${prefix}.org_id: a batch launches for one org; set org_id once, at the top level`,
            `${prefix}.org_id`,
          );
        }
        refuseApiOwnedFields(item, `${prefix}.`);
        return launchRequestFromWire(
          {
            environment: body.environment ?? deps.environment,
            ...(body.deployment_name !== undefined
              ? { deployment_name: body.deployment_name }
              : {}),
            ...item,
            org_id: orgId,
            trigger_source: "api",
            triggered_by: event.requestContext.http.sourceIp,
            // One key per entry, so a retried batch returns the same runs.
            ...(idempotencyKey !== undefined
              ? { idempotency_key: `${idempotencyKey}:${index}` }
              : {}),
          },
          prefix,
        );
      });
      const results = await deps.launcher.launchBatch(
        requests,
        {
          orgId,
          ...(body.correlation_id !== undefined ? { correlationId: body.correlation_id } : {}),
        },
        { concurrency: deps.batchConcurrency ?? 10 },
      );
      return jsonResponse(200, { results: results.map(batchItemBody) });
    },

    async listFlows({ event }) {
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, query.org_id, { required: true }) as string;
      const flows = await deps.persistence.flows.listFlows(orgId);
      return jsonResponse(200, {
        flows: flows.map((f) => ({
          flow_name: f.flow_name,
          latest_version: f.latest_version ?? null,
          versions: f.versions,
        })),
      });
    },

    async listFlowVersions({ event, params }) {
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, query.org_id, { required: true }) as string;
      const flowName = params.flowName as string;
      const versions = await deps.persistence.flows.listVersions(orgId, flowName);
      if (versions.length === 0) {
        throw new NotFoundError(`Flow not found: ${flowName} is not registered for org ${orgId}`);
      }
      return jsonResponse(200, { flow_name: flowName, versions: versions.map(flowVersionBody) });
    },

    async listSchedules({ event }) {
      const schedules = requireSchedules();
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, query.org_id, { required: true }) as string;
      const list = await schedules.list(orgId);
      return jsonResponse(200, { schedules: list.map(scheduleBody) });
    },

    async putSchedule({ event }) {
      const schedules = requireSchedules();
      const body = asObject(parseJsonBody(event));
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const fields = parseWith(scheduleFieldsSchema, {
        name: body.name,
        expression: body.expression,
        time_zone: body.time_zone,
        enabled: body.enabled,
        description: body.description,
      });
      const launchFields = Object.fromEntries(
        Object.entries(body).filter(([k]) => !(SCHEDULE_FIELDS as readonly string[]).includes(k)),
      );
      for (const field of [...API_OWNED_LAUNCH_FIELDS, "idempotency_key"]) {
        if (field in launchFields) {
          throw new ValidationError(
            `${field}: not accepted on a schedule (${field === "idempotency_key" ? "every firing is a new run" : "set by Dagy"})`,
            field,
          );
        }
      }
      const orgId = deps.auth.resolveOrg(event, requestedOrg(body.org_id, query.org_id), {
        required: true,
      }) as string;
      const resourceName = `schedule:${fields.name}`;
      const wire = {
        environment: deps.environment,
        ...launchFields,
        org_id: orgId,
        trigger_source: "schedule",
        triggered_by: resourceName,
      };
      // Same schema as the launch handler: a schedule can never carry an event it would refuse.
      const request = launchRequestFromWire(wire);
      // Refuse schedules for flows (or versions) that are not registered: they would only fail.
      await deps.persistence.flows.resolve(
        orgId,
        request.flowName,
        request.flowVersion ?? "latest",
      );
      // The validated (normalized) request is what the schedule delivers.
      const input = buildLaunchEvent(toWire(request));
      const schedule = await schedules.put({
        name: fields.name,
        orgId,
        expression: fields.expression,
        ...(fields.time_zone !== undefined ? { timeZone: fields.time_zone } : {}),
        enabled: fields.enabled ?? true,
        ...(fields.description !== undefined ? { description: fields.description } : {}),
        input,
      });
      return jsonResponse(200, scheduleBody(schedule));
    },

    async deleteSchedule({ event, params }) {
      const schedules = requireSchedules();
      const query = parseWith(orgOnlyQuerySchema, queryParams(event));
      const orgId = deps.auth.resolveOrg(event, query.org_id, { required: true }) as string;
      const name = params.name as string;
      const deleted = await schedules.delete(orgId, name);
      if (!deleted) throw new NotFoundError(`Schedule not found: ${name}`);
      return jsonResponse(200, { name, deleted: true });
    },
  };

  function errorResponse(error: unknown, event: HttpApiEvent, requestId: string): HttpResponse {
    if (error instanceof RunNotFoundError) return jsonResponse(404, RUN_NOT_FOUND_BODY);
    const code = errorCode(error);
    const status = httpStatusOf(code);
    if (status < 500 && error instanceof DagyError) {
      const headers: Record<string, string> =
        error instanceof MethodNotAllowedError ? { allow: error.allowed.join(", ") } : {};
      return jsonResponse(status, { error: error.message, code }, headers);
    }
    deps.logger?.error("request failed", {
      request_id: requestId,
      route: `${event.requestContext.http.method} ${event.rawPath}`,
      error,
    });
    if (error instanceof DagyError && code !== "internal" && code !== "configuration") {
      // Typed operational errors (e.g. 503 no capacity) keep their status and message.
      return jsonResponse(status, { error: error.message, code, request_id: requestId });
    }
    return jsonResponse(500, { error: "Internal error", code: "internal", request_id: requestId });
  }

  return {
    async handle(event: HttpApiEvent): Promise<HttpResponse> {
      const requestId = event.requestContext.requestId ?? randomUUID();
      try {
        const path = pathWithoutStage(
          event.rawPath || event.requestContext.http.path,
          event.requestContext.stage,
        );
        const match = matchRoute(ROUTES, event.requestContext.http.method, path);
        return await handlers[match.name]({ event, params: match.params });
      } catch (error) {
        return errorResponse(error, event, requestId);
      }
    },
  };
}
