/**
 * One handler per route: parse (schemas.ts), call a service with the caller, shape (shape.ts).
 * No business rule lives here.
 */
import { NotFoundError, ValidationError } from "../errors";
import { fromWireInput } from "../launcher/request";
import type { RunRecord } from "../persistence/records";
import { validateIdempotencyKey } from "../persistence/validate";
import type {
  DeploymentsService,
  FlowsService,
  PackagesService,
  RunsService,
  SchedulesService,
} from "../services";
import type { Caller } from "../services/caller";
import type { LaunchInput } from "../services/runs";
import type { ApiDependencies } from "./index";
import {
  header,
  jsonResponse,
  parseJsonBody,
  queryParams,
  type HttpApiEvent,
  type HttpResponse,
} from "./http";
import type { RouteName } from "./routes";
import {
  API_OWNED_LAUNCH_FIELDS,
  batchBodySchema,
  cancelBodySchema,
  rerunBodySchema,
  DEFAULT_PAGE_SIZE,
  deploymentSchema,
  flowCommitSchema,
  flowUploadSchema,
  listRunsQuerySchema,
  logsQuerySchema,
  orgOnlyQuerySchema,
  packageCommitSchema,
  packageUploadSchema,
  parseWith,
  SCHEDULE_FIELDS,
  scheduleFieldsSchema,
} from "./schemas";
import {
  batchItemBody,
  cloudWatchLogLink,
  deploymentBody,
  flowVersionBody,
  launchBody,
  packageBody,
  runBody,
  runSummary,
  scheduleBody,
  uploadBody,
  type LogLink,
} from "./shape";
import { httpStatusOf } from "./status";

/** The services the API calls; optional ones answer 404 when a deployment lacks them. */
export interface ApiServices {
  readonly runs: RunsService;
  readonly flows?: FlowsService;
  readonly schedules?: SchedulesService;
  readonly packages?: PackagesService;
  readonly deployments?: DeploymentsService;
}

export interface ApiRequest {
  readonly event: HttpApiEvent;
  readonly params: Record<string, string>;
  readonly caller: Caller;
}

type Handler = (req: ApiRequest) => Promise<HttpResponse>;

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

/** A launch body through the launcher's wire schema; messages keep a field prefix. */
function launchInput(wire: Record<string, unknown>, prefix = ""): LaunchInput {
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

function orgQuery(event: HttpApiEvent): string | undefined {
  return parseWith(orgOnlyQuerySchema, queryParams(event)).org_id;
}

function need<T>(service: T | undefined, what: string): T {
  if (!service) throw new NotFoundError(`${what} are not enabled in this deployment`);
  return service;
}

export function createHandlers(deps: ApiDependencies): Record<RouteName, Handler> {
  const services = deps.services;
  const logLink =
    deps.logStreamLink ??
    ((run: RunRecord): LogLink =>
      cloudWatchLogLink(run, {
        ...(deps.region ? { region: deps.region } : {}),
        ...(deps.logGroup ? { logGroup: deps.logGroup } : {}),
      }));
  const flows = () => need(services.flows, "Flow registrations");
  const schedules = () => need(services.schedules, "Schedules");
  const packages = () => need(services.packages, "Dependency packages");
  const deployments = () => need(services.deployments, "Deployments");

  return {
    async launchRun({ event, params, caller }) {
      const body = asObject(parseJsonBody(event));
      refuseApiOwnedFields(body);
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const idempotencyKey = idempotencyKeyOf(event);
      const input = launchInput({
        ...body,
        flow_name: params.flowName,
        ...(orgId !== undefined ? { org_id: orgId } : {}),
        ...(idempotencyKey !== undefined ? { idempotency_key: idempotencyKey } : {}),
      });
      const result = await services.runs.launch(caller, input, "api");
      if (result.success) return jsonResponse(200, launchBody(result));
      const status = httpStatusOf(result.errorCode ?? "launch_failed");
      // Nothing launched for a reason the caller can fix (unknown flow, ...): just the error.
      if (status < 500) {
        return jsonResponse(status, {
          error: result.errorMessage ?? "Launch failed",
          code: result.errorCode ?? "launch_failed",
        });
      }
      // The run exists but its task could not be started (ECS refused, no capacity): 502.
      return jsonResponse(status, launchBody(result));
    },

    async getRun({ event, params, caller }) {
      const run = await services.runs.get(caller, params.runId as string, orgQuery(event));
      return jsonResponse(200, runBody(run, logLink(run), deps.region));
    },

    async listRuns({ event, caller }) {
      const query = parseWith(listRunsQuerySchema, queryParams(event));
      const page = await services.runs.list(caller, {
        ...(query.org_id !== undefined ? { orgId: query.org_id } : {}),
        ...(query.flow_name !== undefined ? { flowName: query.flow_name } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.parent_run_id !== undefined ? { parentRunId: query.parent_run_id } : {}),
        limit: query.limit ?? DEFAULT_PAGE_SIZE,
        ...(query.next_token !== undefined ? { nextToken: query.next_token } : {}),
      });
      return jsonResponse(200, {
        runs: page.items.map(runSummary),
        next_token: page.nextToken ?? null,
      });
    },

    async cancelRun({ event, params, caller }) {
      const body = parseWith(cancelBodySchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const run = await services.runs.cancel(caller, params.runId as string, {
        ...(orgId !== undefined ? { orgId } : {}),
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
      });
      return jsonResponse(200, {
        run_id: run.run_id,
        status: run.status,
        cancel_requested: run.cancel_requested ?? false,
      });
    },

    async rerunRun({ event, params, caller }) {
      const body = parseWith(rerunBodySchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const result = await services.runs.rerun(caller, params.runId as string, {
        from: body.from ?? "start",
        ...(orgId !== undefined ? { orgId } : {}),
      });
      if (result.success) {
        return jsonResponse(200, { ...launchBody(result), rerun_of: params.runId });
      }
      return jsonResponse(httpStatusOf(result.errorCode ?? "launch_failed"), {
        ...launchBody(result),
        rerun_of: params.runId,
      });
    },

    async getRunLogs({ event, params, caller }) {
      const query = parseWith(logsQuerySchema, queryParams(event));
      const page = await services.runs.logs(caller, params.runId as string, {
        ...(query.org_id !== undefined ? { orgId: query.org_id } : {}),
        ...(query.position !== undefined ? { position: query.position } : {}),
        ...(query.task_id !== undefined ? { taskId: query.task_id } : {}),
      });
      return jsonResponse(200, {
        run_id: params.runId,
        events: page.events,
        next_position: page.nextPosition,
        complete: page.complete,
      });
    },

    async getRunTraceback({ event, params, caller }) {
      const runId = params.runId as string;
      const traceback = await services.runs.traceback(caller, runId, orgQuery(event));
      return jsonResponse(200, { run_id: runId, traceback });
    },

    async launchBatch({ event, caller }) {
      const raw = asObject(parseJsonBody(event));
      const body = parseWith(batchBodySchema, raw);
      const orgId = requestedOrg(body.org_id, orgQuery(event));
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
        return launchInput(item, prefix);
      });
      const results = await services.runs.launchBatch(
        caller,
        {
          ...(orgId !== undefined ? { orgId } : {}),
          ...(body.environment !== undefined ? { environment: body.environment } : {}),
          ...(body.deployment_name !== undefined ? { deploymentName: body.deployment_name } : {}),
          ...(body.correlation_id !== undefined ? { correlationId: body.correlation_id } : {}),
          ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          requests,
        },
        "api",
      );
      return jsonResponse(200, { results: results.map(batchItemBody) });
    },

    async listFlows({ event, caller }) {
      const list = await flows().list(caller, orgQuery(event));
      return jsonResponse(200, {
        flows: list.map((f) => ({
          flow_name: f.flow_name,
          latest_version: f.latest_version ?? null,
          versions: f.versions,
        })),
      });
    },

    async listFlowVersions({ event, params, caller }) {
      const flowName = params.flowName as string;
      const versions = await flows().versions(caller, flowName, orgQuery(event));
      return jsonResponse(200, { flow_name: flowName, versions: versions.map(flowVersionBody) });
    },

    async getFlowVersion({ event, params, caller }) {
      const detail = await flows().version(
        caller,
        params.flowName as string,
        params.version as string,
        orgQuery(event),
      );
      return jsonResponse(200, {
        ...flowVersionBody(detail.record),
        version: detail.record.flow_version,
        flow_spec: detail.spec,
      });
    },

    async createFlowUpload({ event, params, caller }) {
      const body = parseWith(flowUploadSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const upload = await flows().createUpload(caller, params.flowName as string, {
        ...(orgId !== undefined ? { orgId } : {}),
        version: body.version,
        sha256: body.sha256,
        size: body.size,
      });
      return jsonResponse(200, uploadBody(upload));
    },

    async commitFlowVersion({ event, params, caller }) {
      const body = parseWith(flowCommitSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const record = await flows().commitVersion(caller, params.flowName as string, {
        ...(orgId !== undefined ? { orgId } : {}),
        version: body.version,
        uploadId: body.upload_id,
        ...(body.description !== undefined ? { description: body.description } : {}),
      });
      return jsonResponse(200, flowVersionBody(record));
    },

    async listSchedules({ event, caller }) {
      const list = await schedules().list(caller, orgQuery(event));
      return jsonResponse(200, { schedules: list.map(scheduleBody) });
    },

    async putSchedule({ event, caller }) {
      const service = schedules();
      const body = asObject(parseJsonBody(event));
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
            `${field}: not accepted on a schedule (${field === "idempotency_key" ? "each firing carries its own key" : "set by Dagy"})`,
            field,
          );
        }
      }
      const orgId = requestedOrg(launchFields.org_id, orgQuery(event));
      const { orgId: _org, ...launch } = launchInput(launchFields);
      const schedule = await service.create(caller, {
        ...(orgId !== undefined ? { orgId } : {}),
        name: fields.name,
        expression: fields.expression,
        ...(fields.time_zone !== undefined ? { timeZone: fields.time_zone } : {}),
        ...(fields.enabled !== undefined ? { enabled: fields.enabled } : {}),
        ...(fields.description !== undefined ? { description: fields.description } : {}),
        launch,
      });
      return jsonResponse(200, scheduleBody(schedule));
    },

    async deleteSchedule({ event, params, caller }) {
      const name = params.name as string;
      await schedules().delete(caller, name, orgQuery(event));
      return jsonResponse(200, { name, deleted: true });
    },

    async listPackages({ event, caller }) {
      const list = await packages().list(caller, orgQuery(event));
      return jsonResponse(200, { packages: list.map(packageBody) });
    },

    async createPackageUpload({ event, caller }) {
      const body = parseWith(packageUploadSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const upload = await packages().createUpload(caller, {
        ...(orgId !== undefined ? { orgId } : {}),
        name: body.name,
        version: body.version,
        format: body.format,
        sha256: body.sha256,
        size: body.size,
      });
      return jsonResponse(200, uploadBody(upload));
    },

    async commitPackage({ event, caller }) {
      const body = parseWith(packageCommitSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const record = await packages().commit(caller, {
        ...(orgId !== undefined ? { orgId } : {}),
        name: body.name,
        version: body.version,
        format: body.format,
        uploadId: body.upload_id,
        ...(body.shared_with !== undefined ? { sharedWith: body.shared_with } : {}),
      });
      return jsonResponse(200, packageBody(record));
    },

    async listDeployments({ event, caller }) {
      const list = await deployments().list(caller, orgQuery(event));
      return jsonResponse(200, { deployments: list.map(deploymentBody) });
    },

    async putDeployment({ event, params, caller }) {
      const body = parseWith(deploymentSchema, parseJsonBody(event) ?? {});
      const orgId = requestedOrg(body.org_id, orgQuery(event));
      const record = await deployments().set(caller, params.name as string, {
        ...(orgId !== undefined ? { orgId } : {}),
        ...(body.environment !== undefined ? { environment: body.environment } : {}),
        packages: body.packages,
      });
      return jsonResponse(200, deploymentBody(record));
    },
  };
}
