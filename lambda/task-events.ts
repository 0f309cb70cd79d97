/**
 * ECS Task State Change handler (EventBridge rule on the worker cluster). A STOPPED Dagy task
 * whose run is still QUEUED or RUNNING is closed: CANCELLED if a cancel was requested, else
 * FAILED with the stop reason and exit code. Errors are thrown so EventBridge retries them.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { createDocClient, endpointsOf, regionOption } from "../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { putEventsWith } from "../lib/events/eventbridge";
import { announceTerminalTransitions, createRunStatusAnnouncer } from "../lib/events/run-status";
import { stdoutMetricSink } from "../lib/metrics";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { reconcileEcsTaskEvent, type EcsEventOutcome } from "../lib/reconcile/ecs-event";

const config = parseRuntimeConfig(process.env, "task-events");
const logger = createJsonLogger({ component: "task-events" });
const persistence = new Persistence(createDocClient(endpointsOf(config)), config.tables, {
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

export const handler = (event: unknown): Promise<EcsEventOutcome> =>
  reconcileEcsTaskEvent(event, {
    runs,
    logger,
    ...(config.ecs.containerName !== undefined
      ? { workerContainer: config.ecs.containerName }
      : {}),
  });
