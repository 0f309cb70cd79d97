/**
 * Worker exits are reconciled exactly as the ECS task-events Lambda reconciles stopped tasks:
 * a local worker's exit becomes the stopped-task event that Lambda receives.
 */
import { constants as osConstants } from "node:os";
import { localTaskArn, type LocalWorkerExit } from "../launcher/local-backend";
import type { JsonLogger } from "../log";
import { cancelOrphanedChildren, reconcileStoppedTask, type ReconcileOutcome } from "../reconcile";
import type { Services } from "../services";

/** Container reason given to reconciliation for a worker that exhausted its heap. */
export const LOCAL_OOM_REASON =
  "OutOfMemoryError: Container killed due to memory usage (the worker's Node heap limit, from the run's memory, was reached)";

/** stoppedReason given to reconciliation for workers stopped by a platform shutdown. */
export const SHUTDOWN_REASON = "local platform stopped while the run was active";

/** Exit code a shell reports for a signal, as ECS reports a killed container (137 = SIGKILL). */
function exitCodeOf(exit: LocalWorkerExit): number | undefined {
  if (exit.code !== null) return exit.code;
  if (exit.signal !== null) {
    const number = (osConstants.signals as Record<string, number | undefined>)[exit.signal];
    return number === undefined ? undefined : 128 + number;
  }
  return undefined;
}

export interface WorkerExitReconciler {
  /** The LocalBackend's `onExit`. */
  readonly onExit: (runId: string, exit: LocalWorkerExit) => void;
  /** Reconciliations still under way. */
  readonly pending: Set<Promise<unknown>>;
}

/**
 * `isClosing` tells whether the platform is shutting down (no relaunches then; the runs end
 * with SHUTDOWN_REASON); `getServices` gives the services, built after the backend.
 */
export function createWorkerExitReconciler(deps: {
  readonly isClosing: () => boolean;
  readonly getServices: () => Services;
  readonly logger: JsonLogger;
  readonly log: (line: string) => void;
}): WorkerExitReconciler {
  const { isClosing, getServices, logger: reconcileLogger, log } = deps;
  const pending = new Set<Promise<unknown>>();
  const onExit = (runId: string, exit: LocalWorkerExit): void => {
    const closing = isClosing();
    const services = getServices();
    const exitCode = exitCodeOf(exit);
    const stoppedReason = closing
      ? SHUTDOWN_REASON
      : exit.error !== undefined
        ? exit.error
        : exit.neverStarted
          ? "the run left the queue before its worker started"
          : exit.signal !== null
            ? `worker process killed by ${exit.signal}`
            : undefined;
    // A worker that died of heap exhaustion is reported as ECS reports a container killed for
    // memory, so oom_policy behaves here as it does on Fargate.
    const work = reconcileStoppedTask(
      {
        runId,
        taskArn: exit.taskArn ?? localTaskArn(runId),
        ...(exit.outOfMemory
          ? { exitCode: 137, containerReason: LOCAL_OOM_REASON }
          : exitCode !== undefined
            ? { exitCode }
            : {}),
        ...(stoppedReason !== undefined ? { stoppedReason } : {}),
      },
      {
        runs: services.persistence.runs,
        logger: reconcileLogger,
        // No relaunches while the platform shuts down: those runs end with the reason.
        ...(closing ? {} : { relaunch: (run, next) => services.launcher.relaunch(run, next) }),
      },
    )
      .then(async (outcome: ReconcileOutcome) => {
        const run = await services.persistence.runs.get(runId);
        if (!run) return;
        // A parent that ended, however it ended, leaves no child runs of its isolated maps.
        const orphans = await cancelOrphanedChildren(runId, {
          runs: services.persistence.runs,
          cancel: (child, reason) =>
            services.launcher.cancelRun(child.run_id, { orgId: child.org_id, reason }),
        });
        if (orphans.length > 0) {
          log(`run ${runId} ended: cancelled ${orphans.length} of its child runs`);
        }
        const took =
          run.started_at && run.completed_at
            ? ` in ${((Date.parse(run.completed_at) - Date.parse(run.started_at)) / 1000).toFixed(2)} s`
            : "";
        const why =
          outcome.action === "failed" || outcome.action === "cancelled" || run.error_message
            ? `: ${run.error_message ?? ""}`
            : "";
        log(`run ${runId} ${run.flow_name} ${run.flow_version} ${run.status}${took}${why}`);
      })
      .catch((error: unknown) => {
        log(`error: could not reconcile run ${runId}: ${(error as Error).message}`);
      });
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };
  return { onExit, pending };
}
