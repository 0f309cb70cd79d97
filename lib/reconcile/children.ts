/**
 * Isolated maps leave no orphans: once a parent run is terminal (it finished, was cancelled,
 * or its worker died and reconciliation closed it), its QUEUED or RUNNING child runs are
 * cancelled. A child relaunched or closed on its own never touches its siblings: only a
 * terminal parent does.
 */
import { ConflictError, RunNotFoundError } from "../errors";
import type { JsonLogger } from "../log";
import type { RunRecord } from "../persistence/records";
import type { RunRepository } from "../persistence/runs";
import { TERMINAL_STATUSES } from "../persistence/schema";
import type { ReconcileAction } from "./types";

export interface ChildCancelDependencies {
  readonly runs: Pick<RunRepository, "get" | "list">;
  /** Cancels one child (DagLauncher#cancelRun: its task is stopped too). */
  readonly cancel: (child: RunRecord, reason: string) => Promise<unknown>;
  readonly logger?: JsonLogger;
}

/** Cancels the active children of `parentRunId` if it is terminal; returns their ids. */
export async function cancelOrphanedChildren(
  parentRunId: string,
  deps: ChildCancelDependencies,
): Promise<string[]> {
  const parent = await deps.runs.get(parentRunId);
  if (!parent || !TERMINAL_STATUSES.includes(parent.status)) return [];
  const reason = `parent run ${parentRunId} is ${parent.status}`;
  const cancelled: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await deps.runs.list({
      orgId: parent.org_id,
      parentRunId,
      limit: 100,
      ...(nextToken !== undefined ? { nextToken } : {}),
    });
    for (const child of page.items) {
      if (child.status !== "QUEUED" && child.status !== "RUNNING") continue;
      try {
        await deps.cancel(child, reason);
        cancelled.push(child.run_id);
      } catch (error) {
        // It finished between the listing and the cancel: nothing left to do.
        if (!(error instanceof ConflictError) && !(error instanceof RunNotFoundError)) throw error;
      }
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  if (cancelled.length > 0) {
    deps.logger?.warn(`cancelled ${cancelled.length} child runs: ${reason}`, {
      run_id: parentRunId,
      children: cancelled.length,
    });
  }
  return cancelled;
}

/** Reconcile outcomes after which the run is terminal (relaunched and other tasks are not). */
const CLOSED: ReadonlySet<ReconcileAction> = new Set(["failed", "cancelled", "already_terminal"]);

/**
 * After reconciliation settled a run (task-events, the sweep, the local platform): a run now
 * terminal leaves no active children. A relaunched run keeps them (its next attempt joins the
 * children it launched); `already_terminal` is included because a worker that recorded its
 * run's end may have died before cancelling them. For a run that never mapped, this costs one
 * read and one empty `by_parent` query.
 */
export function cancelChildrenOfSettledRun(
  outcome: { readonly runId?: string; readonly action: string },
  deps: ChildCancelDependencies,
): Promise<string[]> {
  if (outcome.runId === undefined || !CLOSED.has(outcome.action as ReconcileAction)) {
    return Promise.resolve([]);
  }
  return cancelOrphanedChildren(outcome.runId, deps);
}
