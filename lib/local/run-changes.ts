/**
 * The embedded platform's answer to "has this run changed?" (`GET /runs/{id}?wait_seconds`):
 * every write to the runs table reaches the local DynamoDB server in this process, whoever
 * makes it (a worker, the launcher, reconciliation), so the server's write tap wakes the readers
 * waiting for that run the moment the write is done.
 */
import { RunChangeHub } from "../services/run-changes";
import type { LocalServers } from "./servers";

export function runChangesFrom(
  servers: Pick<LocalServers, "tapWrites">,
  runsTable: string,
): RunChangeHub {
  const hub = new RunChangeHub();
  servers.tapWrites({
    // Writes are looked at only while someone waits.
    active: () => hub.watching > 0,
    onWrite: (table, key) => {
      const runId = (key.run_id as { S?: unknown } | undefined)?.S;
      if (table === runsTable && typeof runId === "string") hub.changed(runId);
    },
  });
  return hub;
}
