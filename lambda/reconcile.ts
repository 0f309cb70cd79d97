/**
 * Scheduled reconciliation sweep: the safety net for lost task events. Active runs idle for a
 * while are checked with DescribeTasks; stopped or vanished tasks close (or relaunch) their
 * runs, tasks stuck PENDING past the start timeout are stopped and their runs relaunched, and
 * QUEUED runs that never got a task are failed.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { createDocClient, endpointsOf, regionOption } from "../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { DagLauncher } from "../lib/launcher/dag-launcher";
import { launcherOptionsFromConfig } from "../lib/launcher/from-config";
import { putEventsWith } from "../lib/events/eventbridge";
import { announceTerminalTransitions, createRunStatusAnnouncer } from "../lib/events/run-status";
import { stdoutMetricSink } from "../lib/metrics";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { cancelChildrenOfSettledRun } from "../lib/reconcile/children";
import { EcsTaskInspector } from "../lib/reconcile/ecs-inspector";
import { sweepStaleRuns } from "../lib/reconcile/service";
import type { SweepReport } from "../lib/reconcile/types";

const config = parseRuntimeConfig(process.env, "reconcile");
const logger = createJsonLogger({ component: "reconcile" });
const persistence = new Persistence(createDocClient(endpointsOf(config)), config.tables, {
  logger,
});
const ecs = new ECSClient(regionOption(config.region));
const inspector = new EcsTaskInspector(ecs, config.ecs.clusterArn ?? "", config.ecs.containerName);
const launcher = new DagLauncher(launcherOptionsFromConfig(config), {
  persistence,
  ecsClient: ecs,
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

export const handler = async (): Promise<SweepReport> => {
  const report = await sweepStaleRuns({
    runs,
    inspector,
    logger,
    queuedAfterMs: config.reconcile.queuedAfterMs,
    runningAfterMs: config.reconcile.runningAfterMs,
    startTimeoutMs: config.reconcile.startTimeoutMs,
    relaunch: (run, next) => launcher.relaunch(run, next),
  });
  // Parents the sweep closed leave no orphans: their isolated maps' active children go too.
  // One parent's trouble must not cost the others their cleanup, nor the sweep its report.
  for (const outcome of report.outcomes) {
    await cancelChildrenOfSettledRun(outcome, {
      runs: persistence.runs,
      cancel: (child, reason) => launcher.cancelRun(child.run_id, { orgId: child.org_id, reason }),
      logger,
    }).catch((error: unknown) =>
      logger.error("could not cancel the children of a closed run", {
        run_id: outcome.runId,
        error: error instanceof Error ? error.message : String(error),
      }),
    );
  }
  logger.info("reconciliation sweep done", {
    examined: report.examined,
    closed: report.outcomes.filter((o) => o.action === "failed" || o.action === "cancelled").length,
    relaunched: report.outcomes.filter((o) => o.action === "relaunched").length,
  });
  return report;
};
