/**
 * ECS Task State Change handler (EventBridge rule on the worker cluster). A STOPPED Dagy task
 * whose run is still QUEUED or RUNNING is closed: CANCELLED if a cancel was requested, else
 * FAILED with the stop reason and exit code. Errors are thrown so EventBridge retries them.
 */
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { reconcileEcsTaskEvent, type EcsEventOutcome } from "../lib/reconcile/ecs-event";
import {
  createDocClient,
  endpointsFromEnv,
  optionalEnv,
  PLATFORM_ENV,
  tablesFromEnv,
} from "./config";

const env = process.env;
const logger = createJsonLogger({ component: "task-events" });
const persistence = new Persistence(createDocClient(endpointsFromEnv(env)), tablesFromEnv(env), {
  logger,
});
const workerContainer = optionalEnv(env, PLATFORM_ENV.containerName);

export const handler = (event: unknown): Promise<EcsEventOutcome> =>
  reconcileEcsTaskEvent(event, {
    runs: persistence.runs,
    logger,
    ...(workerContainer !== undefined ? { workerContainer } : {}),
  });
