/**
 * Handlers of the flow routes: list flows and versions and read one (the api function, over the
 * flow catalog), upload and commit a version (the registration function).
 */
import type { FlowCatalog } from "../../services/flow-catalog";
import type { FlowsService } from "../../services/flows";
import { jsonResponse, parseJsonBody } from "../http";
import { flowCommitSchema, flowUploadSchema, parseWith } from "../schemas";
import { flowVersionBody, uploadBody } from "../shape";
import { orgQuery, requestedOrg, type HandlerGroup } from "./request";

type FlowReadRoute = "listFlows" | "listFlowVersions" | "getFlowVersion";
type FlowRegistrationRoute = "createFlowUpload" | "commitFlowVersion";

export function flowReadHandlers(flows: () => FlowCatalog): HandlerGroup<FlowReadRoute> {
  return {
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
  };
}

export function flowRegistrationHandlers(
  flows: () => FlowsService,
): HandlerGroup<FlowRegistrationRoute> {
  return {
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
  };
}
