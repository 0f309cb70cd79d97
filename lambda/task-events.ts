/**
 * ECS Task State Change handler (EventBridge rule on the worker cluster). A STOPPED Dagy task
 * whose run is still QUEUED or RUNNING is closed: CANCELLED if a cancel was requested, else
 * FAILED with the stop reason and exit code. Errors are thrown so EventBridge retries them.
 */
import { createDocClient, endpointsOf } from "../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { reconcileEcsTaskEvent, type EcsEventOutcome } from "../lib/reconcile/ecs-event";

const config = parseRuntimeConfig(process.env, "task-events");
const logger = createJsonLogger({ component: "task-events" });
const persistence = new Persistence(createDocClient(endpointsOf(config)), config.tables, {
  logger,
});

export const handler = (event: unknown): Promise<EcsEventOutcome> =>
  reconcileEcsTaskEvent(event, {
    runs: persistence.runs,
    logger,
    ...(config.ecs.containerName !== undefined
      ? { workerContainer: config.ecs.containerName }
      : {}),
  });
