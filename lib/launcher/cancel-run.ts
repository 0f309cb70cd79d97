/**
 * Cancelling a run, as status transitions: QUEUED -> CANCELLED at once (conditional on still
 * being QUEUED) and its task, if any, stopped; RUNNING: `cancel_requested` set and the task
 * stopped — the worker records CANCELLED on SIGTERM, and reconciliation does if the worker
 * cannot. A terminal run is a ConflictError; no run, a RunNotFoundError.
 */
import { ConflictError, RunNotFoundError } from "../errors";
import type { RunRepository } from "../persistence/runs";
import type { RunRecord } from "../persistence/records";

export interface CancelRunDeps {
  readonly runs: Pick<RunRepository, "get" | "transition" | "requestCancel">;
  /** Stops a running task; its failure is the caller's. */
  readonly stop: (taskArn: string, reason: string) => Promise<void>;
  /** Stops a task whose run is already CANCELLED; failures are only logged. */
  readonly stopQuietly: (taskArn: string, reason: string) => Promise<void>;
}

/** @param current the run as the caller read it (undefined: no such run, for this caller) */
export async function cancelRun(
  deps: CancelRunDeps,
  current: RunRecord | undefined,
  runId: string,
  requestedReason?: string,
): Promise<RunRecord> {
  const reason = (requestedReason ?? "cancelled by request").slice(0, 255);
  let run = current;
  // A few rounds: the worker may move QUEUED -> RUNNING between our read and our write.
  for (let round = 0; round < 3 && run; round++) {
    if (run.status === "QUEUED") {
      const cancelled = await deps.runs.transition(runId, "QUEUED", "CANCELLED", {
        cancel_requested: true,
        stop_reason: reason,
      });
      if (!cancelled) {
        run = await deps.runs.get(runId);
        continue;
      }
      if (cancelled.task_arn) await deps.stopQuietly(cancelled.task_arn, reason);
      return cancelled;
    }
    if (run.status === "RUNNING") {
      const flagged = await deps.runs.requestCancel(runId);
      if (!flagged) break;
      if (flagged.status !== "RUNNING" && flagged.status !== "QUEUED") {
        throw new ConflictError(`run ${runId} is already ${flagged.status}`);
      }
      if (flagged.task_arn) await deps.stop(flagged.task_arn, reason);
      return flagged;
    }
    throw new ConflictError(`run ${runId} is already ${run.status}`);
  }
  if (!run) throw new RunNotFoundError(runId);
  throw new ConflictError(`run ${runId} changed status while being cancelled; try again`);
}
