/**
 * The embedded platform's count of writes to one table (`TableWriteCount`): every write to the
 * local DynamoDB server passes through this process, so the server's write tap sees each one
 * begin and end, whoever makes it (the API, a worker, the CLI through the API). Reads of that
 * table may then be kept between writes (FlowRepository keeps each flow's versions: a launch
 * skips its Query).
 */
import type { TableWriteCount } from "../persistence/flows";
import type { LocalServers } from "./servers";

export function tableWritesFrom(
  servers: Pick<LocalServers, "tapWrites">,
  table: string,
): TableWriteCount {
  let version = 0;
  let underWay = 0;
  servers.tapWrites({
    active: () => true,
    onWrite: () => undefined,
    onWriteBegin: (written) => {
      if (written !== table) return;
      version++;
      underWay++;
    },
    onWriteEnd: (written) => {
      if (written === table) underWay--;
    },
  });
  return { version: () => (underWay === 0 ? version : undefined) };
}
