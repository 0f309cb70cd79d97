/**
 * The claim: the run goes QUEUED -> RUNNING with a conditional write, or the worker leaves it
 * alone (NotRunnable says why). A run cancelled while QUEUED is closed CANCELLED here.
 */
import type { JsonLogger } from "../log";
import type { RunRecord } from "../persistence/records";
import type { WorkerConfig } from "./config";
import { EXIT_CODES, type StartMode, type WorkerOutcome, type WorkerRunStore } from "./run-outcome";

/** A run the worker must not touch: the outcome says why. */
export class NotRunnable extends Error {
  constructor(readonly outcome: WorkerOutcome) {
    super("run is not runnable");
  }
}

export interface ClaimContext {
  readonly config: Pick<WorkerConfig, "runId" | "orgId" | "runsTable">;
  readonly runs: WorkerRunStore;
  readonly task: { readonly taskArn: string; readonly startMode: StartMode } | undefined;
  readonly logger: JsonLogger;
}

/**
 * QUEUED -> RUNNING, conditionally: the claimed record. Throws NotRunnable for a run this
 * worker must leave alone.
 */
export async function claimRun(
  ctx: ClaimContext,
  started?: Promise<RunRecord | undefined>,
): Promise<RunRecord> {
  const { config, runs, logger } = ctx;
  const first = await (started ?? startClaim(ctx));
  if (first !== undefined) return first;
  const run = await runs.get(config.runId);
  if (run === undefined) {
    const text = `run ${config.runId} not found in ${config.runsTable}`;
    logger.error(text, { event_type: "worker_error" });
    throw new NotRunnable({ exitCode: EXIT_CODES.workerError, errorMessage: text });
  }
  if (run.status === "QUEUED" && run.cancel_requested === true) {
    const now = new Date().toISOString();
    const cancelled = await runs.transition(config.runId, "QUEUED", "CANCELLED", {
      completed_at: now,
      error_message: "Run cancelled before it started",
    });
    logger.info("run was cancelled before it started; not running it", {
      event_type: "run_cancelled",
    });
    throw new NotRunnable({
      exitCode: EXIT_CODES.cancelled,
      status: cancelled?.status ?? "CANCELLED",
    });
  }
  const claimed = run.status === "QUEUED" ? await claimQueued(ctx, run) : undefined;
  if (claimed === undefined) {
    const current = (await runs.get(config.runId)) ?? run;
    const exitCode = current.status === "CANCELLED" ? EXIT_CODES.cancelled : EXIT_CODES.notRun;
    logger.warn(`run is ${current.status}, not QUEUED; not running it`, {
      event_type: "run_not_started",
      status: current.status,
    });
    throw new NotRunnable({ exitCode, status: current.status });
  }
  return claimed;
}

/**
 * The common case in one write, without reading the run first: QUEUED for its first
 * attempt, no cancel requested, and no task recorded but this worker's. Undefined when the
 * run is in any other state: `claimRun` then reads it and decides. A worker sends this as soon
 * as it has its configuration and hands the promise to `claimRun`.
 */
export function startClaim(
  ctx: Pick<ClaimContext, "config" | "runs" | "task">,
): Promise<RunRecord | undefined> {
  const { config, runs, task } = ctx;
  return runs.transition(
    config.runId,
    "QUEUED",
    "RUNNING",
    { started_at: new Date().toISOString(), ...(task ? { task_arn: task.taskArn } : {}) },
    { orgId: config.orgId, firstClaim: task !== undefined ? { task } : {} },
  );
}

/**
 * The conditional QUEUED -> RUNNING write. A worker that knows its task also records it: the
 * run's `task_arn` and its last attempt's `task_arn` and `start_mode`, in the same write. The
 * launcher may record its attempt between our read and our write (a warm worker can be that
 * quick): then the write is retried on the fresh record, never forced.
 */
async function claimQueued(ctx: ClaimContext, first: RunRecord): Promise<RunRecord | undefined> {
  const { config, runs, task } = ctx;
  let run: RunRecord | undefined = first;
  for (let tries = 0; tries < 3 && run?.status === "QUEUED"; tries++) {
    const fields: Partial<RunRecord> = {
      // A relaunched attempt keeps the run's first start; attempts keep their own times.
      started_at: run.started_at ?? new Date().toISOString(),
    };
    if (task === undefined) return runs.transition(config.runId, "QUEUED", "RUNNING", fields);
    const attempts = run.attempts ?? [];
    const last = attempts[attempts.length - 1];
    // The launcher's attempt for this dispatch is the last one while it is the current task
    // (a warm dispatch's placeholder on Fargate); with no current task, none is recorded yet.
    const ours = run.task_arn !== undefined && last !== undefined && last.task_arn === run.task_arn;
    const claimed = await runs.transition(
      config.runId,
      "QUEUED",
      "RUNNING",
      { ...fields, task_arn: task.taskArn },
      {
        // No task recorded yet: the launcher may be recording this very one as we write.
        taskArn: run.task_arn ?? { absentOr: task.taskArn },
        ...(ours
          ? {
              lastAttempt: {
                index: attempts.length - 1,
                fields: { task_arn: task.taskArn, start_mode: task.startMode },
              },
            }
          : {}),
      },
    );
    if (claimed !== undefined) return claimed;
    run = await runs.get(config.runId);
  }
  return undefined;
}
