/**
 * Deployments: named sets of dependency packages (set, list). Only the deployments table, so
 * the api function serves them without the package registration code (./packages.ts).
 */
import type { Persistence } from "../persistence/persistence";
import type { DeploymentRecord } from "../persistence/records";
import { requiredOrg, type Caller } from "./caller";

export class DeploymentsService {
  constructor(
    private readonly persistence: Persistence,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Creates or replaces a deployment; every package must exist and be usable by the org. */
  async set(
    caller: Caller,
    name: string,
    input: {
      readonly orgId?: string;
      readonly environment?: string;
      readonly packages: readonly string[];
    },
  ): Promise<DeploymentRecord> {
    const orgId = requiredOrg(caller, input.orgId);
    const record: DeploymentRecord = {
      org_id: orgId,
      deployment_name: name,
      environment: input.environment ?? name,
      dep_package_slugs: [...input.packages],
      updated_at: this.clock().toISOString(),
    };
    await this.persistence.deployments.put(record);
    return record;
  }

  list(caller: Caller, requestedOrgId?: string): Promise<DeploymentRecord[]> {
    return this.persistence.deployments.list(requiredOrg(caller, requestedOrgId));
  }
}
