/**
 * What a parent run's worker may ask of the API (caller kind `worker`: IAM mode, signed as the
 * worker task role; lib/services/caller.ts). IAM already limits the role to POST /runs/batch and
 * POST /runs/{runId}/cancel; this decides which launches and cancels those may carry:
 *
 * - launch: only child runs (`parent_run_id` and `map_task`), of a parent that is RUNNING in the
 *   org the call names, of the parent's own flow and version, with nothing the parent's launcher
 *   did not decide (no `secrets_env`, no `extra_env_vars`).
 * - cancel: only a run that is a child of a RUNNING run of that org (a map that failed stops the
 *   children it launched).
 *
 * Every refusal is a ForbiddenError (403) naming the field. What is not checked: that the parent
 * is the very run of the worker that signs (every worker shares one role; binding a call to its
 * ECS task would need the session name to be the task id, which AWS does not document).
 */
import { ForbiddenError, RunNotFoundError, ValidationError } from "../errors";
import type { DagLaunchRequest } from "../launcher/types";
import type { RunRecord } from "../persistence/records";

type GetRun = (
  runId: string,
  options: { readonly orgId: string },
) => Promise<RunRecord | undefined>;

/** The org a worker's call acts for: the one it names, which must be its parent's. */
export function workerOrg(requestedOrgId: string | undefined): string {
  if (requestedOrgId === undefined) {
    throw new ValidationError("org_id: required (the parent run's org)", "org_id");
  }
  return requestedOrgId;
}

/** The parent a worker's call is for: a RUNNING run of `orgId`; else ForbiddenError. */
async function activeParent(
  getRun: GetRun,
  orgId: string,
  parentRunId: string,
  field: string,
): Promise<RunRecord> {
  const parent = await getRun(parentRunId, { orgId });
  if (parent === undefined) {
    throw new ForbiddenError(`${field}: run ${parentRunId} is not a run of org ${orgId}`);
  }
  if (parent.status !== "RUNNING") {
    throw new ForbiddenError(
      `${field}: run ${parentRunId} is ${parent.status}; a worker launches and cancels children only for a RUNNING run`,
    );
  }
  return parent;
}

/**
 * Checks a worker's launches (one, or a batch's entries; `fieldOf(i)` names entry i's fields
 * in messages, e.g. `requests[3].`).
 */
export async function authorizeWorkerLaunches(
  getRun: GetRun,
  orgId: string,
  requests: readonly DagLaunchRequest[],
  fieldOf: (index: number) => string,
): Promise<void> {
  const parents = new Map<string, RunRecord>();
  for (const [index, request] of requests.entries()) {
    const at = fieldOf(index);
    if (request.parentRunId === undefined || request.mapTask === undefined) {
      throw new ForbiddenError(
        `${at}parent_run_id: the worker task role launches only an isolated map's child runs (parent_run_id and map_task required)`,
      );
    }
    if (request.secretsEnv !== undefined || request.extraEnvVars !== undefined) {
      throw new ForbiddenError(
        `${at}${request.secretsEnv !== undefined ? "secrets_env" : "extra_env_vars"}: not for the worker task role to choose`,
      );
    }
    let parent = parents.get(request.parentRunId);
    if (parent === undefined) {
      parent = await activeParent(getRun, orgId, request.parentRunId, `${at}parent_run_id`);
      parents.set(request.parentRunId, parent);
    }
    if (request.flowName !== parent.flow_name || request.flowVersion !== parent.flow_version) {
      throw new ForbiddenError(
        `${at}flow_name: a child run runs its parent's flow (${parent.flow_name} ${parent.flow_version}), not ${request.flowName} ${request.flowVersion ?? "(latest)"}`,
      );
    }
  }
}

/** Checks a worker's cancel: the run must be a child of a RUNNING run of `orgId`. */
export async function authorizeWorkerCancel(
  getRun: GetRun,
  orgId: string,
  runId: string,
): Promise<void> {
  const run = await getRun(runId, { orgId });
  if (run === undefined) throw new RunNotFoundError(runId);
  if (run.parent_run_id === undefined) {
    throw new ForbiddenError(
      `run ${runId} is not a child run: the worker task role cancels only an isolated map's children`,
    );
  }
  await activeParent(getRun, orgId, run.parent_run_id, "parent_run_id");
}
