/**
 * Scheduled reconciliation sweep: the safety net for lost task events. Active runs idle for a
 * while are checked with DescribeTasks; stopped or vanished tasks close their runs, and QUEUED
 * runs that never got a task are failed.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { createDocClient, endpointsOf, regionOption } from "../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { putEventsWith } from "../lib/events/eventbridge";
import { announceTerminalTransitions, createRunStatusAnnouncer } from "../lib/events/run-status";
import { stdoutMetricSink } from "../lib/metrics";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { EcsTaskInspector } from "../lib/reconcile/ecs-inspector";
import { sweepStaleRuns } from "../lib/reconcile/service";
import type { SweepReport } from "../lib/reconcile/types";

const config = parseRuntimeConfig(process.env, "reconcile");
const logger = createJsonLogger({ component: "reconcile" });
const persistence = new Persistence(createDocClient(endpointsOf(config)), config.tables, {
  logger,
});
// A run the sweep closes is announced (`Dagy Run Status Change`) and counted.
const runs = announceTerminalTransitions(
  persistence.runs,
  createRunStatusAnnouncer({
    logger,
    putEvents: putEventsWith(new EventBridgeClient(regionOption(config.region))),
    metrics: stdoutMetricSink,
  }),
);
const inspector = new EcsTaskInspector(
  new ECSClient(regionOption(config.region)),
  config.ecs.clusterArn ?? "",
  config.ecs.containerName,
);

export const handler = async (): Promise<SweepReport> => {
  const report = await sweepStaleRuns({
    runs,
    inspector,
    logger,
    queuedAfterMs: config.reconcile.queuedAfterMs,
    runningAfterMs: config.reconcile.runningAfterMs,
  });
  logger.info("reconciliation sweep done", {
    examined: report.examined,
    closed: report.outcomes.filter((o) => o.action === "failed" || o.action === "cancelled").length,
  });
  return report;
};
