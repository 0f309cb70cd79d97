/** Handlers of the deployment routes (named sets of dependency packages): list, set. */
import type { DeploymentsService } from "../../services/deployments";
import { jsonResponse, parseJsonBody } from "../http";
import { deploymentSchema, parseWith } from "../schemas";
import { deploymentBody } from "../shape";
import { orgQuery, requestedOrg, type HandlerGroup } from "./request";

type DeploymentRoute = "listDeployments" | "putDeployment";

export function deploymentHandlers(
  deployments: () => DeploymentsService,
): HandlerGroup<DeploymentRoute> {
  return {
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
