/**
 * Where a run's parameters go — a pure decision, made before anything is written:
 * inline in the worker's environment (DAGY_PARAMETERS) when they fit ECS's container
 * overrides; otherwise in the run record, which stores them anyway, with
 * DAGY_PARAMETERS_IN_RUN=1 telling the worker to read them from the record it claims; only
 * past RUN_RECORD_PARAMETERS_MAX_BYTES (DynamoDB items are capped at 400 KB) in S3, and only
 * when the launcher has an object store. Never truncated: what fits nowhere is refused.
 */
import { DagyError, InvalidLaunchRequestError, ValidationError } from "../errors";
import type { FlowRecord } from "../persistence/records";
import { resolveParameters } from "../sdk/parameters";
import type { FlowSpec, Json } from "../sdk/types";
import { LAUNCH_FIELD_WIRE_NAMES } from "./request";
import type { WorkerLaunchSpec } from "./types";
import { ECS_OVERRIDES_MAX_CHARS } from "./worker-spec";

/**
 * Largest parameters JSON (UTF-8 bytes) kept in the run record. DynamoDB refuses items over
 * 400 KB; the rest of the record (metadata, extra env, task states the worker merges in later)
 * needs the margin.
 */
export const RUN_RECORD_PARAMETERS_MAX_BYTES = 300 * 1024;

/** How the worker's environment carries the parameters (see buildWorkerEnvironment). */
export type ParameterCarrier =
  | { readonly parameters: Record<string, Json> }
  | { readonly parametersInRun: true }
  | { readonly parametersUri: string };

export interface ParameterPlacementInput {
  readonly parameters: Record<string, Json>;
  /** The worker's spec with the parameters carried as given. */
  readonly specFor: (carrier: ParameterCarrier) => WorkerLaunchSpec;
  /** Characters of the ECS overrides the spec gives (what ECS caps). */
  readonly overridesChars: (spec: WorkerLaunchSpec) => number;
  /** Where the parameters would be spilled; undefined when there is no object store. */
  readonly spillUri: string | undefined;
}

export interface ParameterPlacement {
  readonly spec: WorkerLaunchSpec;
  /** In the run record: all but spilled parameters. */
  readonly inRecord: boolean;
  /** To be written to S3 before the worker starts. */
  readonly spill?: { readonly uri: string; readonly body: string };
}

function requestProblem(message: string, field: string): InvalidLaunchRequestError {
  return new InvalidLaunchRequestError(`invalid launch request: ${message}`, field);
}

/** @throws InvalidLaunchRequestError when the parameters or extra env fit nowhere */
export function placeParameters(input: ParameterPlacementInput): ParameterPlacement {
  const { parameters } = input;
  const inline = input.specFor({ parameters });
  if (input.overridesChars(inline) <= ECS_OVERRIDES_MAX_CHARS) {
    return { spec: inline, inRecord: true };
  }
  const body = JSON.stringify(parameters);
  const bytes = Buffer.byteLength(body, "utf8");
  let placement: ParameterPlacement;
  if (bytes <= RUN_RECORD_PARAMETERS_MAX_BYTES) {
    // The run record stores the parameters anyway: the worker reads them from it.
    placement = { spec: input.specFor({ parametersInRun: true }), inRecord: true };
  } else {
    const field = LAUNCH_FIELD_WIRE_NAMES.parameters;
    if (input.spillUri === undefined) {
      throw requestProblem(
        `${field}: ${bytes} bytes of JSON, over the ${RUN_RECORD_PARAMETERS_MAX_BYTES} bytes a run record can hold; pass a URI to the data (e.g. an s3:// location) as a parameter instead`,
        field,
      );
    }
    const uri = input.spillUri;
    placement = {
      spec: input.specFor({ parametersUri: uri }),
      inRecord: false,
      spill: { uri, body },
    };
  }
  const size = input.overridesChars(placement.spec);
  if (size > ECS_OVERRIDES_MAX_CHARS) {
    throw requestProblem(
      `extraEnvVars: the worker's container overrides would be ${size} characters even with the parameters moved out of them, over ECS's limit of ${ECS_OVERRIDES_MAX_CHARS}; pass large values as parameters instead`,
      "extraEnvVars",
    );
  }
  return placement;
}

/**
 * The run's parameters: the given ones checked against the flow's declarations, defaults
 * filled in.
 *
 * @throws InvalidLaunchRequestError naming the parameter
 */
export function checkLaunchParameters(
  flow: FlowRecord,
  given: Record<string, Json>,
): Record<string, Json> {
  let spec: Pick<FlowSpec, "parameters">;
  try {
    const parsed = JSON.parse(flow.spec) as Partial<FlowSpec>;
    spec = { parameters: parsed.parameters ?? {} };
  } catch (error) {
    throw new DagyError(
      `flow ${flow.flow_name} version ${flow.flow_version} has an unreadable spec; register it again`,
      { cause: error },
    );
  }
  try {
    return resolveParameters(spec, given);
  } catch (error) {
    if (error instanceof ValidationError) {
      throw requestProblem(error.message, error.field ?? LAUNCH_FIELD_WIRE_NAMES.parameters);
    }
    throw error;
  }
}
