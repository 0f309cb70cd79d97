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
import {
  DEFAULT_START_TIMEOUT_MS,
  START_TIMEOUT_STOP_CODE,
  closeAttempt,
  decide,
  type HealDecision,
} from "./heal";
import { cancelledMessage, failureMessage, stopReason } from "./messages";
import { isWarmTaskArn } from "../persistence/warm-pools";
export type { RelaunchRun } from "./types";
import { settleStaleWarmDispatch, type WarmFallbackOutcome } from "./warm-fallback";
import type {
  ReconcileOutcome,
  RelaunchRun,
  StoppedTask,
  SweepReport,
  TaskInspector,
  TaskObservation,
} from "./types";

export type ReconcileRunStore = Pick<
  RunRepository,
  "get" | "transition" | "listActive" | "beginRelaunch"
> &
  Partial<Pick<RunRepository, "findByTaskArn">>;

export interface ReconcileDependencies {
  readonly runs: ReconcileRunStore;
  readonly logger?: JsonLogger;
  /** Absent: no relaunches (runs stopped by the infrastructure end FAILED, as before). */
  readonly relaunch?: RelaunchRun;
  readonly now?: () => Date;
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

async function alreadyClosed(
  runs: ReconcileRunStore,
  runId: string,
  taskArn: string,
): Promise<ReconcileOutcome> {
  const current = await runs.get(runId);
  if (current && !TERMINAL_STATUSES.includes(current.status) && current.task_arn !== taskArn) {
    return { runId, action: "other_task", status: current.status };
  }
  return { runId, action: "already_terminal", ...(current ? { status: current.status } : {}) };
}

/**
 * Reconciles one stopped worker task with its run. Idempotent: repeated events change nothing
 * (every write is conditional on the run's status and its current task). The run is CANCELLED
 * when a cancel was requested; relaunched when the infrastructure stopped it and relaunches
 * remain (./heal); FAILED otherwise.
 */
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
  const stale =
    run.task_arn !== undefined && run.task_arn !== null
      ? run.task_arn !== task.taskArn
      : // Between two attempts (no current task): the event is about an earlier one.
        (run.attempts ?? []).some((a) => a.task_arn === task.taskArn);
  if (stale) {
    log?.warn("stopped task is not the run's current task; ignored", {
      current_task_arn: run.task_arn ?? null,
    });
    return { runId: run.run_id, action: "other_task", status: run.status };
  }
  const stoppedAt = (deps.now?.() ?? new Date()).toISOString();
  const decision = decide(run, task, deps.relaunch !== undefined && Boolean(run.task_arn));
  if (decision.kind === "relaunch" && deps.relaunch) {
    return relaunchRun(run, task, decision, deps.relaunch, runs, stoppedAt, log);
  }
  const target = decision.kind === "cancel" ? "CANCELLED" : "FAILED";
  const base =
    target === "CANCELLED" ? (run.error_message ?? cancelledMessage(task)) : failureMessage(task);
  const errorMessage =
    decision.kind === "fail" && decision.note ? `${base}; ${decision.note}` : base;
  const updated = await runs.transition(
    run.run_id,
    [...ACTIVE],
    target,
    {
      error_message: errorMessage,
      exit_code: task.exitCode ?? null,
      stop_reason: stopReason(task) || null,
      task_arn: run.task_arn ?? task.taskArn,
      attempts: closeAttempt(
        run,
        task,
        target === "CANCELLED" ? "cancelled" : "failed",
        stopReason(task),
        stoppedAt,
      ),
    },
    { taskArn: run.task_arn ?? null },
  );
  if (!updated) {
    // The worker, a cancel or another event moved the run between our read and our write.
    return alreadyClosed(runs, run.run_id, task.taskArn);
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

async function relaunchRun(
  run: RunRecord,
  task: StoppedTask,
  decision: Extract<HealDecision, { kind: "relaunch" }>,
  relaunch: RelaunchRun,
  runs: ReconcileRunStore,
  stoppedAt: string,
  log: JsonLogger | undefined,
): Promise<ReconcileOutcome> {
  const reason = [stopReason(task), decision.note].filter(Boolean).join("; ");
  const attempts = closeAttempt(run, task, "relaunched", reason, stoppedAt);
  const queued = await runs.beginRelaunch(
    run.run_id,
    task.taskArn,
    attempts,
    (run.relaunches ?? 0) + 1,
  );
  if (!queued) return alreadyClosed(runs, run.run_id, task.taskArn);
  try {
    const started = await relaunch(queued, decision.next);
    log?.warn(`run relaunched: ${decision.note}`, {
      org_id: run.org_id,
      flow_name: run.flow_name,
      event_type: "run_relaunched",
      cause: decision.cause,
      attempt: attempts.length + 1,
      new_task_arn: started.taskArn,
      capacity_provider: decision.next.capacityProvider,
      cpu: decision.next.cpu,
      memory: decision.next.memory,
    });
    return {
      runId: run.run_id,
      action: "relaunched",
      status: "QUEUED",
      cause: decision.cause,
      taskArn: started.taskArn,
    };
  } catch (error) {
    const errorMessage = `${failureMessage(task)}; the relaunch could not start a task: ${error instanceof Error ? error.message : String(error)}`;
    const failed = await runs.transition(run.run_id, "QUEUED", "FAILED", {
      error_message: errorMessage,
      exit_code: task.exitCode ?? null,
      stop_reason: stopReason(task) || null,
    });
    if (!failed) return alreadyClosed(runs, run.run_id, task.taskArn);
    log?.warn("run failed: relaunch could not start a task", { error_message: errorMessage });
    return { runId: run.run_id, action: "failed", status: "FAILED", errorMessage };
  }
}

function warmOutcome(warm: WarmFallbackOutcome): ReconcileOutcome {
  const common = { runId: warm.runId, ...(warm.status ? { status: warm.status } : {}) };
  switch (warm.action) {
    case "relaunched_cold":
      return {
        ...common,
        action: "relaunched",
        cause: "warm_unclaimed",
        ...(warm.taskArn ? { taskArn: warm.taskArn } : {}),
      };
    case "failed":
      return {
        ...common,
        action: "failed",
        ...(warm.errorMessage ? { errorMessage: warm.errorMessage } : {}),
      };
    case "unknown_run":
      return { ...common, action: "unknown_run" };
    default:
      return { ...common, action: "other_task" };
  }
}

export interface SweepOptions extends ReconcileDependencies {
  readonly inspector: TaskInspector;
  /** QUEUED runs not updated for this long are checked. Default 15 minutes. */
  readonly queuedAfterMs?: number;
  /** RUNNING runs not updated for this long are checked. Default 10 minutes. */
  readonly runningAfterMs?: number;
  /**
   * A task still PENDING (or PROVISIONING) this long after ECS created it is stopped and its run
   * relaunched (or failed when out of relaunches). Default 10 minutes.
   */
  readonly startTimeoutMs?: number;
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

const STARTING_STATUSES = new Set(["PROVISIONING", "PENDING"]);

/**
 * A task that has not started within the start timeout is stopped, and its run reconciled as
 * if the task had failed to start (relaunched, or failed when out of relaunches) — without
 * waiting for the STOPPED event, which then names a task that is no longer current.
 */
async function stopIfStuck(
  run: RunRecord,
  taskArn: string,
  obs: Extract<TaskObservation, { state: "active" }>,
  now: Date,
  startTimeoutMs: number,
  inspector: TaskInspector,
  deps: ReconcileDependencies,
): Promise<ReconcileOutcome | undefined> {
  if (!STARTING_STATUSES.has(obs.lastStatus) || obs.createdAt === undefined) return undefined;
  if (now.getTime() - Date.parse(obs.createdAt) < startTimeoutMs) return undefined;
  const minutes = Math.round(startTimeoutMs / 60_000);
  const stoppedReason = `Task was still ${obs.lastStatus} ${minutes} minutes after it was created (start timeout)`;
  if (inspector.stop) {
    try {
      await inspector.stop(taskArn, stoppedReason);
    } catch (error) {
      deps.logger?.warn("could not stop a task stuck starting", {
        run_id: run.run_id,
        task_arn: taskArn,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return reconcileStoppedTask(
    { runId: run.run_id, taskArn, stopCode: START_TIMEOUT_STOP_CODE, stoppedReason },
    deps,
  );
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
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  // A run waiting on a PENDING task is QUEUED: look at those as soon as the start timeout allows.
  const queued = await staleRuns(
    runs,
    "QUEUED",
    new Date(now.getTime() - Math.min(queuedAfterMs, startTimeoutMs)).toISOString(),
    max,
  );
  const neverSubmittedBefore = now.getTime() - queuedAfterMs;
  const running = await staleRuns(
    runs,
    "RUNNING",
    new Date(now.getTime() - runningAfterMs).toISOString(),
    Math.max(0, max - queued.length),
  );
  const outcomes: ReconcileOutcome[] = [];

  for (const run of queued) {
    // A warm dispatch has no ECS task to describe: past the fallback's delay, settle it.
    if (isWarmTaskArn(run.task_arn)) {
      if (Date.parse(run.updated_at) > neverSubmittedBefore) continue;
      const warm = await settleStaleWarmDispatch(run as RunRecord & { task_arn: string }, {
        runs,
        ...(logger ? { logger } : {}),
        ...(options.relaunch ? { relaunch: options.relaunch } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      outcomes.push(warmOutcome(warm));
      continue;
    }
    if (run.task_arn || Date.parse(run.updated_at) > neverSubmittedBefore) continue;
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
    const deps: ReconcileDependencies = {
      runs,
      ...(logger ? { logger } : {}),
      ...(options.relaunch ? { relaunch: options.relaunch } : {}),
      ...(options.now ? { now: options.now } : {}),
    };
    if (obs.state === "active") {
      const outcome = await stopIfStuck(
        run,
        run.task_arn,
        obs,
        now,
        startTimeoutMs,
        inspector,
        deps,
      );
      if (outcome) outcomes.push(outcome);
      continue;
    }
    const stopped = fromObservation(run, run.task_arn, obs);
    if (!stopped) continue;
    outcomes.push(await reconcileStoppedTask(stopped, deps));
  }
  return { examined: queued.length + running.length, outcomes };
}
