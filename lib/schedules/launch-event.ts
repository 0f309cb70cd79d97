/**
 * The launch event (`{"action":"launch","flow_name":...,"org_id":...,"environment":...}` plus
 * any launch-request field in snake_case): what schedules deliver and what the launch Lambda
 * accepts, validated by one schema — the launcher's wire schema plus `action`.
 */
import { InvalidLaunchRequestError, type ErrorCode } from "../errors";
import { fromWire } from "../launcher/request";
import type { DagLaunchRequest, DagLaunchResult } from "../launcher/types";
import type { JsonLogger } from "../log";
import type { Json } from "../sdk/types";
import type { LaunchEventInput } from "./types";

/** Parses a launch event. Throws InvalidLaunchRequestError naming the field at fault. */
export function parseLaunchEvent(event: unknown): DagLaunchRequest {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new InvalidLaunchRequestError(
      'invalid launch event: must be a JSON object {"action":"launch","flow_name":...,"org_id":...}',
    );
  }
  const { action, ...request } = event as Record<string, unknown>;
  if (action !== "launch") {
    throw new InvalidLaunchRequestError(
      `invalid launch event: action: must be "launch" (got ${JSON.stringify(action) ?? "nothing"})`,
      "action",
    );
  }
  return fromWire(request);
}

/**
 * Builds the event a schedule delivers: the guide's keys first, in the guide's order, then the
 * other launch fields as given.
 */
export function buildLaunchEvent(
  fields: { flow_name: string; org_id: string; environment?: string } & Record<
    string,
    Json | undefined
  >,
): LaunchEventInput {
  const { flow_name, org_id, environment, ...rest } = fields;
  const extras = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const event: LaunchEventInput = {
    action: "launch",
    flow_name,
    org_id,
    ...(environment !== undefined ? { environment } : {}),
    ...extras,
  };
  return event;
}

/** The launch handler's reply: the DagLaunchResult in snake_case. */
export interface LaunchEventResult {
  readonly success: boolean;
  readonly run_id: string | null;
  readonly flow_name: string | null;
  readonly task_arn: string | null;
  readonly correlation_id: string | null;
  readonly error_message: string | null;
  readonly error_code: ErrorCode | null;
  readonly metadata: Record<string, Json>;
}

export function launchResultToWire(result: DagLaunchResult): LaunchEventResult {
  return {
    success: result.success,
    run_id: result.runId || null,
    flow_name: result.flowName,
    task_arn: result.taskArn ?? null,
    correlation_id: result.correlationId || null,
    error_message: result.errorMessage ?? null,
    error_code: result.errorCode ?? null,
    metadata: result.metadata,
  };
}

export interface LaunchEventDependencies {
  readonly launcher: { launch(request: DagLaunchRequest): Promise<DagLaunchResult> };
  readonly logger?: JsonLogger;
  /** The stack's environment: what an event without `environment` launches in. */
  readonly environment?: string;
}

/**
 * Handles one launch event (a schedule firing or a direct invocation).
 *
 * An invalid event is logged and answered with `success: false` rather than thrown: EventBridge
 * and asynchronous invocation retry thrown errors, and retrying input that can never be valid
 * only repeats the failure. A launch the launcher could not start is returned as it reports it.
 * Unexpected errors (DynamoDB unreachable, ...) are thrown, so the platform's retries apply.
 */
export async function handleLaunchEvent(
  event: unknown,
  deps: LaunchEventDependencies,
): Promise<LaunchEventResult> {
  const invalid = (error: InvalidLaunchRequestError): LaunchEventResult => {
    deps.logger?.error("invalid launch event; not retried", { error: error.message });
    const record = (typeof event === "object" && event !== null ? event : {}) as Record<
      string,
      unknown
    >;
    return {
      success: false,
      run_id: null,
      flow_name: typeof record.flow_name === "string" ? record.flow_name : null,
      task_arn: null,
      correlation_id: null,
      error_message: error.message,
      error_code: error.code,
      metadata: {},
    };
  };
  let request: DagLaunchRequest;
  let result: DagLaunchResult;
  try {
    request = parseLaunchEvent(event);
    // Direct invocations often omit it: the stack's own environment, as the API does.
    if (!request.environment && deps.environment) {
      request = { ...request, environment: deps.environment };
    }
    // The launcher also refuses input it can only judge against the flow (parameters, sizes).
    result = await deps.launcher.launch(request);
  } catch (error) {
    if (error instanceof InvalidLaunchRequestError) return invalid(error);
    throw error;
  }
  const log = deps.logger?.child({
    run_id: result.runId || null,
    org_id: request.orgId,
    flow_name: request.flowName,
  });
  if (result.success) log?.info("run launched", { task_arn: result.taskArn ?? null });
  else log?.error("launch failed", { error: result.errorMessage, error_code: result.errorCode });
  return launchResultToWire(result);
}
