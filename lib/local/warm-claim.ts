/**
 * The embedded platform claims a run for the warm worker its pool holds for it
 * (LocalBackendOptions.claimForWarm): the very write the worker would make first
 * (lib/worker/run-claim.ts `startClaim`, QUEUED -> RUNNING with the worker's task recorded),
 * made here so the worker is handed a run it can start on at once. Exactly one worker is held
 * for the run and IPC delivers once, so the claim still picks exactly one runner; if the worker
 * dies before it runs, its exit is reconciled as any warm worker's that dies mid-run.
 */
import type { WarmClaim } from "../launcher/local-backend-options";
import type { RunRecord } from "../persistence/records";
import { startClaim } from "../worker/run-claim";
import type { WorkerRunStore } from "../worker/run-outcome";

export function claimForWarmWorker(
  runs: () => Pick<WorkerRunStore, "transition">,
  runsTable: string,
): (claim: WarmClaim) => Promise<RunRecord | undefined> {
  return ({ runId, orgId, taskArn }) =>
    startClaim({
      config: { runId, orgId, runsTable },
      runs: runs() as WorkerRunStore,
      task: { taskArn, startMode: "warm" },
    });
}
