/**
 * Closes runs whose worker stopped without recording an outcome. The worker writes its own
 * terminal status; this is the safety net for when it cannot (out of memory, image pull
 * failure, Spot interruption, crash). Every write is a conditional transition from QUEUED or
 * RUNNING, so a status the worker recorded is never overwritten.
 */
import type { JsonLogger } from "../log";
import type { RunRecord } from "../persistence/records";
import type { RunRepository } from "../persistence/runs";
import { TERMINAL_STATUSES } from "../persistence/schema";
import { ValidationError } from "../errors";
import { cancelledMessage, failureMessage, stopReason } from "./messages";
import type {
  ReconcileOutcome,
  StoppedTask,
  SweepReport,
  TaskInspector,
  TaskObservation,
} from "./types";

export type ReconcileRunStore = Pick<RunRepository, "get" | "transition" | "listActive">;

export interface ReconcileDependencies {
  readonly runs: ReconcileRunStore;
  readonly logger?: JsonLogger;
}

const ACTIVE = ["QUEUED", "RUNNING"] as const;

async function getRun(runs: ReconcileRunStore, runId: string): Promise<RunRecord | undefined> {
  try {
    return await runs.get(runId);
  } catch (error) {
    // A run id that cannot exist (not Dagy's format) is simply not ours.
    if (error instanceof ValidationError) return undefined;
    throw error;
  }
}

/** Reconciles one stopped worker task with its run. Idempotent: repeated events change nothing. */
export async function reconcileStoppedTask(
  task: StoppedTask,
  deps: ReconcileDependencies,
): Promise<ReconcileOutcome> {
  const { runs, logger } = deps;
  const log = logger?.child({ run_id: task.runId, task_arn: task.taskArn });
  const run = await getRun(runs, task.runId);
  if (!run) {
    log?.warn("stopped task names an unknown run; ignored");
    return { runId: task.runId, action: "unknown_run" };
  }
  if (TERMINAL_STATUSES.includes(run.status)) {
    return { runId: run.run_id, action: "already_terminal", status: run.status };
  }
  if (run.task_arn && run.task_arn !== task.taskArn) {
    log?.warn("stopped task is not the run's current task; ignored", {
      current_task_arn: run.task_arn,
    });
    return { runId: run.run_id, action: "other_task", status: run.status };
  }
  const target = run.cancel_requested ? "CANCELLED" : "FAILED";
  const errorMessage =
    target === "CANCELLED" ? (run.error_message ?? cancelledMessage(task)) : failureMessage(task);
  const updated = await runs.transition(run.run_id, [...ACTIVE], target, {
    error_message: errorMessage,
    exit_code: task.exitCode ?? null,
    stop_reason: stopReason(task) || null,
    task_arn: run.task_arn ?? task.taskArn,
  });
  if (!updated) {
    // The worker (or a cancel) recorded a terminal status between our read and our write.
    const current = await runs.get(run.run_id);
    return {
      runId: run.run_id,
      action: "already_terminal",
      ...(current ? { status: current.status } : {}),
    };
  }
  log?.warn(`run ${target === "CANCELLED" ? "cancelled" : "failed"}: worker task stopped`, {
    org_id: run.org_id,
    flow_name: run.flow_name,
    status: target,
    error_message: errorMessage,
    exit_code: task.exitCode ?? null,
    stop_code: task.stopCode ?? null,
  });
  return {
    runId: run.run_id,
    action: target === "CANCELLED" ? "cancelled" : "failed",
    status: target,
    errorMessage,
  };
}

export interface SweepOptions extends ReconcileDependencies {
  readonly inspector: TaskInspector;
  /** QUEUED runs not updated for this long are checked. Default 15 minutes. */
  readonly queuedAfterMs?: number;
  /** RUNNING runs not updated for this long are checked. Default 10 minutes. */
  readonly runningAfterMs?: number;
  /** Upper bound of runs examined per sweep, so one invocation stays short. Default 1000. */
  readonly maxRuns?: number;
  readonly now?: () => Date;
}

export const DEFAULT_QUEUED_AFTER_MS = 15 * 60_000;
export const DEFAULT_RUNNING_AFTER_MS = 10 * 60_000;

async function staleRuns(
  runs: ReconcileRunStore,
  status: "QUEUED" | "RUNNING",
  updatedBefore: string,
  max: number,
): Promise<RunRecord[]> {
  const found: RunRecord[] = [];
  let nextToken: string | undefined;
  do {
    const page = await runs.listActive({
      status,
      updatedBefore,
      limit: Math.min(100, max - found.length),
      ...(nextToken ? { nextToken } : {}),
    });
    found.push(...page.items);
    nextToken = page.nextToken;
  } while (nextToken && found.length < max);
  return found;
}

function fromObservation(
  run: RunRecord,
  taskArn: string,
  obs: TaskObservation,
): StoppedTask | undefined {
  if (obs.state === "active") return undefined;
  if (obs.state === "missing") {
    return { runId: run.run_id, taskArn, missing: true, stoppedReason: obs.reason };
  }
  return {
    runId: run.run_id,
    taskArn,
    ...(obs.stopCode !== undefined ? { stopCode: obs.stopCode } : {}),
    ...(obs.stoppedReason !== undefined ? { stoppedReason: obs.stoppedReason } : {}),
    ...(obs.exitCode !== undefined ? { exitCode: obs.exitCode } : {}),
    ...(obs.containerReason !== undefined ? { containerReason: obs.containerReason } : {}),
  };
}

/**
 * The periodic safety net for lost task events: active runs that have not been updated for a
 * while are checked against the compute backend. A stopped or vanished task closes its run
 * exactly as a task event would; a QUEUED run that never got a task is failed as never submitted.
 */
export async function sweepStaleRuns(options: SweepOptions): Promise<SweepReport> {
  const { runs, inspector, logger } = options;
  const now = options.now?.() ?? new Date();
  const max = options.maxRuns ?? 1000;
  const queuedAfterMs = options.queuedAfterMs ?? DEFAULT_QUEUED_AFTER_MS;
  const runningAfterMs = options.runningAfterMs ?? DEFAULT_RUNNING_AFTER_MS;
  const queued = await staleRuns(
    runs,
    "QUEUED",
    new Date(now.getTime() - queuedAfterMs).toISOString(),
    max,
  );
  const running = await staleRuns(
    runs,
    "RUNNING",
    new Date(now.getTime() - runningAfterMs).toISOString(),
    Math.max(0, max - queued.length),
  );
  const outcomes: ReconcileOutcome[] = [];

  for (const run of queued) {
    if (run.task_arn) continue;
    const minutes = Math.round(queuedAfterMs / 60_000);
    const errorMessage = `Run was never submitted: no worker task was started within ${minutes} minutes of queueing (the launcher stopped before RunTask completed); launch it again`;
    const updated = await runs.transition(run.run_id, "QUEUED", "FAILED", {
      error_message: errorMessage,
      stop_reason: "NEVER_SUBMITTED",
    });
    outcomes.push(
      updated
        ? { runId: run.run_id, action: "failed", status: "FAILED", errorMessage }
        : { runId: run.run_id, action: "already_terminal" },
    );
    if (updated) {
      logger?.warn("run failed: never submitted", { run_id: run.run_id, org_id: run.org_id });
    }
  }

  const withTasks = [...queued, ...running].filter(
    (run): run is RunRecord & { task_arn: string } =>
      typeof run.task_arn === "string" && inspector.owns(run.task_arn),
  );
  const observations =
    withTasks.length > 0
      ? await inspector.describe(withTasks.map((r) => r.task_arn))
      : new Map<string, TaskObservation>();
  for (const run of withTasks) {
    const obs = observations.get(run.task_arn);
    if (!obs) continue;
    const stopped = fromObservation(run, run.task_arn, obs);
    if (!stopped) continue;
    outcomes.push(await reconcileStoppedTask(stopped, { runs, ...(logger ? { logger } : {}) }));
  }
  return { examined: queued.length + running.length, outcomes };
}
