/**
 * The S3 key layout (the guide's contract). The launcher, the registry, the worker and the
 * CDK grants all build keys here, so a layout change cannot happen in one place only.
 */
import {
  validateFlowName,
  validateFlowVersion,
  validateOrgId,
  validateRunId,
  validateSlug,
} from "../identifiers";
import { ValidationError } from "../errors";

export type PackageFormat = "zip" | "tar.gz";

/** `flows/<flow>/<version>/artifact.zip` (artifacts bucket). */
export function artifactKey(flowName: string, flowVersion: string): string {
  return `flows/${validateFlowName(flowName)}/${validateFlowVersion(flowVersion)}/artifact.zip`;
}

/** `dep-packages/<slug>.zip` or `dep-packages/<slug>.tar.gz` (artifacts bucket). */
export function depPackageKey(slug: string, format: PackageFormat): string {
  if (format !== "zip" && format !== "tar.gz") {
    throw new ValidationError(`format must be "zip" or "tar.gz"`, "format");
  }
  return `dep-packages/${validateSlug(slug)}.${format}`;
}

/** `exceptions/<org_id>/<run_id>/traceback.txt` (traces bucket). */
export function tracebackKey(orgId: string, runId: string): string {
  return `exceptions/${validateOrgId(orgId)}/${validateRunId(runId)}/traceback.txt`;
}

/** `run-inputs/<org_id>/<run_id>/parameters.json` (artifacts bucket): parameters too large for the container overrides. */
export function runParametersKey(orgId: string, runId: string): string {
  return `run-inputs/${validateOrgId(orgId)}/${validateRunId(runId)}/parameters.json`;
}
