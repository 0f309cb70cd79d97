/**
 * A launch as the runs table holds it: the record a launch writes (QUEUED, or RUNNING when
 * claimed at creation for a worker held for it), and the launch result read back from a run
 * record when an idempotency key replays it.
 */
import type {
  FlowRecord,
  OomPolicy,
  RunAttempt,
  RunRecord,
  TaskOutputRef,
} from "../persistence/records";
import type { Json, TaskState } from "../sdk/types";
import type { TaskResources } from "./fargate";
import type { DagLaunchRequest, DagLaunchResult } from "./types";

export interface QueuedRunInput {
  readonly runId: string;
  readonly request: DagLaunchRequest;
  readonly flow: FlowRecord;
  readonly resources: TaskResources;
  readonly correlationId: string;
  readonly depPackageUris: readonly string[];
  readonly secretNames: readonly string[];
  /** Kept in the record, unless they were spilled to `parametersUri`. */
  readonly parameters: Record<string, Json>;
  readonly parametersUri?: string;
  readonly createdAt: Date;
  readonly maxRelaunches: number;
  readonly oomPolicy: OomPolicy;
  /** A re-run: the run it re-runs, and what it keeps of it. */
  readonly rerun?: RerunSeed;
  /** Its first attempt, when the backend placed it before the write (ComputeBackend.place). */
  readonly firstAttempt?: { readonly attempt: RunAttempt; readonly logStream?: string };
  /**
   * Written RUNNING, claimed for the first attempt's worker at its creation (Placement
   * .startsClaimed): the worker is handed this record instead of claiming the run QUEUED.
   */
  readonly claimed?: boolean;
}

/** What a re-run takes over from the run it re-runs. */
export interface RerunSeed {
  readonly of: string;
  readonly from: "start" | "failure";
  /** From failure: the succeeded tasks' states and kept outputs (the worker does not run them). */
  readonly taskStates?: Record<string, TaskState>;
  readonly taskOutputs?: Record<string, TaskOutputRef>;
}

export function queuedRunRecord(input: QueuedRunInput): RunRecord {
  const { request, flow, resources } = input;
  const createdAt = input.createdAt.toISOString();
  return {
    run_id: input.runId,
    org_id: request.orgId,
    flow_name: flow.flow_name,
    flow_version: flow.flow_version,
    status: input.claimed === true ? "RUNNING" : "QUEUED",
    ...(input.claimed === true ? { started_at: createdAt } : {}),
    environment: request.environment ?? "",
    ...(request.deploymentName ? { deployment_name: request.deploymentName } : {}),
    correlation_id: input.correlationId,
    trigger_source: request.triggerSource || "lambda",
    ...(request.triggeredBy ? { triggered_by: request.triggeredBy } : {}),
    ...(request.parentRunId ? { parent_run_id: request.parentRunId } : {}),
    ...(request.mapTask ? { map_task: request.mapTask } : {}),
    ...(request.mapItems ? { map_items: request.mapItems } : {}),
    ...(input.parametersUri !== undefined
      ? { parameters_uri: input.parametersUri }
      : { parameters: input.parameters }),
    artifact_s3_uri: flow.artifact_s3_uri,
    artifact_sha256: flow.artifact_sha256,
    dep_package_uris: input.depPackageUris.slice(),
    secret_names: input.secretNames.slice(),
    ...(resources.workloadProfile !== undefined
      ? { workload_profile: resources.workloadProfile }
      : {}),
    cpu: resources.cpu,
    memory: resources.memory,
    ephemeral_storage_gib: resources.ephemeralStorageGib,
    capacity_provider: resources.capacityProvider,
    ...(request.extraEnvVars !== undefined ? { extra_env_vars: request.extraEnvVars } : {}),
    ...(request.secretsEnv !== undefined && Object.keys(request.secretsEnv).length > 0
      ? { secrets_env: request.secretsEnv }
      : {}),
    max_relaunches: input.maxRelaunches,
    relaunches: 0,
    oom_policy: input.oomPolicy,
    ...(input.rerun !== undefined
      ? {
          rerun_of: input.rerun.of,
          rerun_from: input.rerun.from,
          ...(input.rerun.taskStates !== undefined ? { task_states: input.rerun.taskStates } : {}),
          ...(input.rerun.taskOutputs !== undefined
            ? { task_outputs: input.rerun.taskOutputs }
            : {}),
        }
      : {}),
    ...(input.firstAttempt !== undefined
      ? {
          task_arn: input.firstAttempt.attempt.task_arn,
          attempts: [input.firstAttempt.attempt],
          ...(input.firstAttempt.logStream !== undefined
            ? { log_stream: input.firstAttempt.logStream }
            : {}),
        }
      : {}),
    metadata: request.metadata ?? {},
    created_at: createdAt,
    updated_at: createdAt,
    ...(request.idempotencyKey !== undefined ? { idempotency_key: request.idempotencyKey } : {}),
  };
}

/**
 * The first launch's result, from its run record; `undefined` run: the first launch has
 * claimed the key but not yet written its run.
 */
export function replayedResult(
  run: RunRecord | undefined,
  runId: string,
  request: DagLaunchRequest,
): DagLaunchResult {
  if (!run) {
    return {
      success: false,
      runId,
      flowName: request.flowName,
      correlationId: request.correlationId ?? "",
      errorMessage: `a launch with idempotency key ${request.idempotencyKey ?? ""} is still in progress (run ${runId}); retry shortly`,
      errorCode: "conflict",
      metadata: request.metadata ?? {},
      replayed: true,
    };
  }
  // The first launch succeeded if it started a task, whatever the run did afterwards.
  const success = run.status !== "FAILED" || Boolean(run.task_arn);
  return {
    success,
    runId: run.run_id,
    flowName: run.flow_name,
    ...(run.task_arn ? { taskArn: run.task_arn } : {}),
    correlationId: run.correlation_id,
    ...(!success && run.error_message ? { errorMessage: run.error_message } : {}),
    metadata: run.metadata ?? {},
    replayed: true,
  };
}
