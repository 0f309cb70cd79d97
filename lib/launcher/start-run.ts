/**
 * The write phase of a launch, after DagLauncher's reads: build the worker environment and
 * place the parameters (./parameter-placement) -> claim the idempotency key -> write the run
 * QUEUED -> (spill very large parameters to S3) -> submit -> record the task ARN. Also the
 * quiet task stop that relaunch and cancel share. A backend that can place the run before it is
 * written (ComputeBackend.place) has its task recorded in the QUEUED write instead: nothing is
 * written after the start, which a warm worker's claim would otherwise wait behind. A worker
 * held for the run alone (Placement.startsClaimed) has the run written RUNNING, claimed for it,
 * and is handed that record: one write from request to running worker.
 *
 * Failures after the QUEUED write end the run FAILED with the reason (`success: false`);
 * nothing here is left non-terminal by a refused submit.
 */
import { errorCode } from "../errors";
import type { JsonLogger } from "../log";
import type { FlowRecord, OomPolicy, RunRecord } from "../persistence/records";
import type { TableNames } from "../persistence/schema";
import type { Json } from "../sdk/types";
// Direct module imports keep archive code (tar, fflate) out of the launcher's bundle.
import { runParametersKey } from "../storage/keys";
import type { ObjectStore } from "../storage/object-store";
import { formatS3Uri } from "../storage/s3-uri";
import { attemptRecord } from "./attempts";
import { errorMessage } from "./errors";
import type { TaskResources } from "./fargate";
import type { DagLauncherOptions, LauncherPersistence } from "./launcher-options";
import type { LaunchIdempotency } from "./launch-idempotency";
import { placeParameters, type ParameterCarrier } from "./parameter-placement";
import { queuedRunRecord, type RerunSeed } from "./run-record";
import {
  DEFAULT_MAX_RELAUNCHES,
  type ComputeBackend,
  type DagLaunchRequest,
  type Placement,
  type DagLaunchResult,
  type StartMode,
  type SubmitOptions,
} from "./types";
import {
  buildTaskOverrides,
  buildWorkerEnvironment,
  overridesSize,
  workerLaunchSpec,
  type TaskOverridesOptions,
  type WorkerEnvironmentInput,
} from "./worker-spec";

/** How one launch is submitted (a batch's deadline) and whether it re-runs another run. */
export type LaunchOptions = SubmitOptions & { readonly rerun?: RerunSeed };

/** What stopping a task needs. */
export interface StopDeps {
  readonly backend: ComputeBackend;
  readonly logger: Pick<JsonLogger, "info" | "warn">;
}

/** What the write phase of a launch needs; DagLauncher builds it once. */
export interface StartRunDeps extends StopDeps {
  readonly options: DagLauncherOptions;
  readonly persistence: LauncherPersistence;
  readonly store: Pick<ObjectStore, "put"> | undefined;
  readonly clock: () => Date;
  readonly newId: () => string;
  readonly tables: TableNames;
  /** Measured against the overrides EcsBackend sends, whichever backend runs the worker. */
  readonly overrides: TaskOverridesOptions;
  readonly keys: LaunchIdempotency;
}

/** The flow's own `oomPolicy` (dag options), from its registered spec. */
function flowOomPolicy(flow: FlowRecord): OomPolicy | undefined {
  try {
    const policy = (JSON.parse(flow.spec) as { oom_policy?: unknown }).oom_policy;
    return policy === "scale_up" || policy === "fail" ? policy : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a task, logging (not throwing) when the backend refuses. */
export async function stopQuietly(
  deps: StopDeps,
  taskArn: string,
  reason: string,
  runId: string,
): Promise<void> {
  try {
    await deps.backend.stop(taskArn, reason);
  } catch (error) {
    deps.logger.warn("could not stop the task", {
      run_id: runId,
      task_arn: taskArn,
      error: errorMessage(error),
    });
  }
}

async function recordTask(
  deps: StartRunDeps,
  runId: string,
  taskArn: string,
  logStream: string,
  resources: TaskResources,
  startMode: StartMode | undefined,
): Promise<void> {
  try {
    // Sets the task and appends the attempt only: never the status or task states, which a
    // warm worker may already have written (it can claim, even finish, before we get here).
    const attempt = attemptRecord(taskArn, 1, resources, deps.clock(), startMode);
    let updated = await deps.persistence.runs.recordAttempt(runId, attempt, 0, {
      log_stream: logStream,
    });
    if (updated === undefined && startMode === "warm") {
      // The warm worker claimed first and wrote its real task ARN over none: record the
      // attempt under that ARN, so reconciliation and relaunch budgets see it.
      const run = await deps.persistence.runs.get(runId);
      if (run?.task_arn && (run.attempts ?? []).length === 0) {
        updated = await deps.persistence.runs.recordClaimedFirstAttempt(
          runId,
          attempt,
          run.task_arn,
        );
      }
    }
    // Cancelled while we were submitting: the task must not run on.
    if (updated?.status === "CANCELLED") {
      await stopQuietly(
        deps,
        taskArn,
        updated.stop_reason ?? "run cancelled before its task started",
        runId,
      );
    }
  } catch (error) {
    // The task is running and the worker will record itself; the launch did succeed.
    deps.logger.warn("could not record the task ARN", {
      run_id: runId,
      task_arn: taskArn,
      error: errorMessage(error),
    });
  }
}

/**
 * The backend's placement of the spec, if it offers one. A refusal (a missing secret, say) is
 * not final here: the launch goes on without a placement, and the submit meets the same
 * refusal after the QUEUED write, so the run ends FAILED with it on record.
 */
function place(
  deps: StartRunDeps,
  spec: Parameters<ComputeBackend["submit"]>[0],
  options: LaunchOptions,
): Placement | undefined {
  if (deps.backend.place === undefined) return undefined;
  try {
    return deps.backend.place(spec, options);
  } catch {
    return undefined;
  }
}

/** Everything after the reads: place the parameters, claim the key, write, submit. */
export async function startRun(
  deps: StartRunDeps,
  request: DagLaunchRequest,
  flow: FlowRecord,
  parameters: Record<string, Json>,
  depPackageUris: string[],
  resources: TaskResources,
  options: LaunchOptions,
): Promise<DagLaunchResult> {
  const metadata = request.metadata ?? {};
  const runId = deps.newId();
  // Traces always have a correlation id: the run's own when the caller gave none.
  const correlationId = request.correlationId || runId;
  const secretsEnv = request.secretsEnv ?? {};
  const envInput: WorkerEnvironmentInput = {
    runId,
    orgId: request.orgId,
    flowName: flow.flow_name,
    flowVersion: flow.flow_version,
    artifactUri: flow.artifact_s3_uri,
    artifactSha256: flow.artifact_sha256,
    environment: request.environment ?? "",
    correlationId,
    depPackageUris,
    secretNames: Object.keys(secretsEnv).sort(),
    runsTable: deps.tables.runs,
    tracesBucket: deps.options.tracesBucket ?? "",
    ...(deps.options.logGroup !== undefined ? { logGroup: deps.options.logGroup } : {}),
    ...(deps.options.region !== undefined ? { region: deps.options.region } : {}),
    ...(request.extraEnvVars !== undefined ? { extraEnvVars: request.extraEnvVars } : {}),
    ...(request.parentRunId !== undefined ? { parentRunId: request.parentRunId } : {}),
    ...(request.mapTask !== undefined ? { mapTask: request.mapTask } : {}),
    ...(request.mapItems !== undefined ? { mapItems: request.mapItems } : {}),
  };
  // Build the worker's spec and make sure it fits before anything is written.
  const { spec, spill } = placeParameters({
    parameters,
    specFor: (carrier: ParameterCarrier) =>
      workerLaunchSpec(request, resources, buildWorkerEnvironment({ ...envInput, ...carrier })),
    overridesChars: (s) => overridesSize(buildTaskOverrides(s, deps.overrides)),
    spillUri: deps.store
      ? formatS3Uri(deps.options.artifactBucket ?? "", runParametersKey(request.orgId, runId))
      : undefined,
  });

  // Writes.
  const now = deps.clock();
  const replayed = await deps.keys.claim(request, runId, now);
  if (replayed) return replayed;
  const placement = place(deps, spec, options);
  // Spilled parameters are put after the write: a run written RUNNING would have a worker
  // handed it before they are there, so that run is written QUEUED and claimed as usual.
  const claimed = placement?.startsClaimed === true && spill === undefined;
  const record = queuedRunRecord({
    runId,
    request,
    flow,
    resources,
    correlationId,
    depPackageUris,
    secretNames: envInput.secretNames,
    parameters,
    ...(spill ? { parametersUri: spill.uri } : {}),
    createdAt: now,
    maxRelaunches: request.maxRelaunches ?? deps.options.maxRelaunches ?? DEFAULT_MAX_RELAUNCHES,
    oomPolicy: request.oomPolicy ?? flowOomPolicy(flow) ?? "fail",
    ...(options.rerun !== undefined ? { rerun: options.rerun } : {}),
    ...(placement !== undefined
      ? {
          firstAttempt: {
            attempt: attemptRecord(placement.taskArn, 1, resources, now, placement.startMode),
            ...(placement.logStream !== undefined ? { logStream: placement.logStream } : {}),
          },
        }
      : {}),
    ...(claimed ? { claimed } : {}),
  });
  let stored: RunRecord;
  try {
    stored = await deps.persistence.runs.create(record);
  } catch (error) {
    placement?.abandon();
    await deps.keys.release(request, runId);
    throw error;
  }
  const failed = async (error: unknown): Promise<DagLaunchResult> => {
    const message = errorMessage(error);
    await deps.persistence.runs.transition(runId, record.status, "FAILED", {
      error_message: message,
    });
    await deps.keys.release(request, runId);
    deps.logger.warn("launch failed", {
      run_id: runId,
      org_id: request.orgId,
      flow_name: flow.flow_name,
      error: message,
    });
    return {
      success: false,
      runId,
      flowName: flow.flow_name,
      correlationId,
      errorMessage: message,
      errorCode: errorCode(error),
      metadata,
    };
  };
  if (spill && deps.store) {
    try {
      await deps.store.put(spill.uri, spill.body, { contentType: "application/json" });
    } catch (error) {
      placement?.abandon();
      return failed(error);
    }
  }
  if (placement !== undefined) {
    try {
      await placement.start(claimed ? stored : undefined);
    } catch (error) {
      placement.abandon();
      return failed(error);
    }
    await deps.keys.complete(request, runId);
    const taskArn = placement.taskArn;
    return { success: true, runId, flowName: flow.flow_name, taskArn, correlationId, metadata };
  }
  let taskArn: string;
  let logStream: string;
  let startMode: StartMode | undefined;
  try {
    const submitted = await deps.backend.submit(spec, options);
    taskArn = submitted.taskArn;
    logStream = submitted.logStream ?? runId;
    startMode = submitted.startMode;
  } catch (error) {
    return failed(error);
  }
  await recordTask(deps, runId, taskArn, logStream, resources, startMode);
  await deps.keys.complete(request, runId);
  return { success: true, runId, flowName: flow.flow_name, taskArn, correlationId, metadata };
}
