/** Restart recovery: runs a previous session left active are closed, their workers gone. */
import type { Persistence } from "../persistence/persistence";

/** Error message of runs a previous session left active. */
export const RESTART_MESSAGE = "Local platform restarted while the run was active";

/** Closes runs a previous session left active: their workers died with that session. */
export async function recoverInterruptedRuns(persistence: Persistence): Promise<string[]> {
  const recovered: string[] = [];
  for (const status of ["QUEUED", "RUNNING"] as const) {
    let nextToken: string | undefined;
    do {
      const page = await persistence.runs.listActive({
        status,
        limit: 100,
        ...(nextToken !== undefined ? { nextToken } : {}),
      });
      for (const run of page.items) {
        const target = run.cancel_requested ? "CANCELLED" : "FAILED";
        const updated = await persistence.runs.transition(run.run_id, status, target, {
          error_message: RESTART_MESSAGE,
          stop_reason: "PlatformRestarted",
        });
        if (updated) recovered.push(run.run_id);
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
  }
  return recovered;
}
