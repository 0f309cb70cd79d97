/**
 * Reading registered flows: an org's flows, a flow's versions, one version's spec (for drawing
 * its DAG and building a launch form). Only the flows table: no S3, no archive code, so the api
 * function serves these without the registration bundle (registering is ./flows.ts).
 */
import { FlowNotFoundError } from "../errors";
import type { FlowSummary } from "../persistence/flows";
import type { Persistence } from "../persistence/persistence";
import type { FlowRecord } from "../persistence/records";
import type { FlowSpec } from "../sdk/types";
import { requiredOrg, type Caller } from "./caller";

export interface FlowVersionDetail {
  readonly record: FlowRecord;
  readonly spec: FlowSpec;
}

export class FlowCatalog {
  constructor(protected readonly persistence: Persistence) {}

  list(caller: Caller, requestedOrgId?: string): Promise<FlowSummary[]> {
    return this.persistence.flows.listFlows(requiredOrg(caller, requestedOrgId));
  }

  async versions(caller: Caller, flowName: string, requestedOrgId?: string): Promise<FlowRecord[]> {
    const orgId = requiredOrg(caller, requestedOrgId);
    const versions = await this.persistence.flows.listVersions(orgId, flowName);
    if (versions.length === 0) {
      throw new FlowNotFoundError(`Flow not found: ${flowName} is not registered for org ${orgId}`);
    }
    return versions;
  }

  /** One version (`latest` resolves) with its parsed spec. */
  async version(
    caller: Caller,
    flowName: string,
    version: string,
    requestedOrgId?: string,
  ): Promise<FlowVersionDetail> {
    const orgId = requiredOrg(caller, requestedOrgId);
    const record = await this.persistence.flows.resolve(orgId, flowName, version);
    return { record, spec: JSON.parse(record.spec) as FlowSpec };
  }
}
