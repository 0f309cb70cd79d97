/** Handlers of the run routes: launch (one or a batch), read, list, cancel, rerun, logs, traceback. */
import { ValidationError } from "../../errors";
import type { RunRecord } from "../../persistence/records";
import type { RunsService } from "../../services/runs";
import type { HandlerDependencies } from "./request";
import { jsonResponse, parseJsonBody, queryParams } from "../http";
import {
  batchBodySchema,
  cancelBodySchema,
  DEFAULT_PAGE_SIZE,
  getRunQuerySchema,
  listRunsQuerySchema,
  logsQuerySchema,
  parseWith,
  rerunBodySchema,
} from "../schemas";
import {
  batchItemBody,
  cloudWatchLogLink,
  launchBody,
  runBody,
  runSummary,
  type LogLink,
} from "../shape";
import { httpStatusOf } from "../status";
import {
  asObject,
  idempotencyKeyOf,
  launchInput,
  orgQuery,
  refuseApiOwnedFields,
  requestedOrg,
  type HandlerGroup,
} from "./request";

type RunRoute =
  | "launchRun"
  | "getRun"
  | "listRuns"
  | "cancelRun"
  | "rerunRun"
  | "getRunLogs"
  | "getRunTraceback"
  | "launchBatch";

export function runHandlers(
  deps: HandlerDependencies<{ readonly runs: RunsService }>,
): HandlerGroup<RunRoute> {
  const services = deps.services;
  const logLink =
    deps.logStreamLink ??
    ((run: RunRecord): LogLink =>
      cloudWatchLogLink(run, {
        ...(deps.region ? { region: deps.region } : {}),
        ...(deps.logGroup ? { logGroup: deps.logGroup } : {}),
      }));

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
      const query = parseWith(getRunQuerySchema, queryParams(event));
      const run = await services.runs.get(caller, params.runId as string, query.org_id, {
        ...(query.wait_seconds !== undefined ? { waitSeconds: query.wait_seconds } : {}),
      });
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
  };
}
