/**
 * ECS Task State Change handler (EventBridge rule on the worker cluster). A STOPPED Dagy task
 * whose run is still QUEUED or RUNNING is reconciled: CANCELLED if a cancel was requested;
 * relaunched (bounded) when the infrastructure stopped it — no capacity, a Spot reclaim, a
 * start error, out of memory with `oom_policy: scale_up`; else FAILED with the stop reason and
 * exit code. Errors are thrown so EventBridge retries them; every write is conditional, so a
 * retried or duplicated event relaunches nothing twice.
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
import { reconcileEcsTaskEvent, type EcsEventOutcome } from "../lib/reconcile/ecs-event";

const config = parseRuntimeConfig(process.env, "task-events");
const logger = createJsonLogger({ component: "task-events" });
const persistence = new Persistence(createDocClient(endpointsOf(config)), config.tables, {
  logger,
});
const launcher = new DagLauncher(launcherOptionsFromConfig(config), {
  persistence,
  ecsClient: new ECSClient(regionOption(config.region)),
  logger,
});
// A run this function closes is announced (`Dagy Run Status Change`) and counted.
const runs = announceTerminalTransitions(
  persistence.runs,
  createRunStatusAnnouncer({
    logger,
    putEvents: putEventsWith(new EventBridgeClient(regionOption(config.region))),
    metrics: stdoutMetricSink,
  }),
);

export const handler = async (event: unknown): Promise<EcsEventOutcome> => {
  const outcome = await reconcileEcsTaskEvent(event, {
    runs,
    logger,
    relaunch: (run, next) => launcher.relaunch(run, next),
    ...(config.ecs.containerName !== undefined
      ? { workerContainer: config.ecs.containerName }
      : {}),
  });
  // A parent whose worker died leaves no orphans: its isolated maps' active children go too.
  await cancelChildrenOfSettledRun(outcome, {
    runs: persistence.runs,
    cancel: (child, reason) => launcher.cancelRun(child.run_id, { orgId: child.org_id, reason }),
    logger,
  });
  return outcome;
};
