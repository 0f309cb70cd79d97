/**
 * Launch handler: the scheduled or direct event
 * `{"action":"launch","flow_name":...,"org_id":...,"environment":..., <launch fields>}`.
 * Returns the launch result in snake_case. Invalid events are answered with `success: false`
 * (not thrown: retrying them is pointless); unexpected failures are thrown so retries apply.
 * An event without `environment` launches in the stack's own environment.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createDocClient, endpointsOf, regionOption } from "../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { DagLauncher } from "../lib/launcher/dag-launcher";
import { launcherOptionsFromConfig } from "../lib/launcher/from-config";
import { warmDispatcherFromConfig } from "../lib/launcher/warm-dispatch";
import { createJsonLogger } from "../lib/log";
import { stdoutMetricSink } from "../lib/metrics";
import { Persistence } from "../lib/persistence/persistence";
import { handleLaunchEvent, type LaunchEventResult } from "../lib/schedules/launch-event";

const config = parseRuntimeConfig(process.env, "launch");
const logger = createJsonLogger({ component: "launch" });
// DynamoDB and ECS only: with no object store the launcher keeps large parameters in the run
// record, and the S3 client stays out of this bundle.
const doc = createDocClient(endpointsOf(config));
const persistence = new Persistence(doc, config.tables, { logger });
// Warm pools (DAGY_WARM_POOLS): a run a pool fits goes to an idle worker through SQS.
const warm = warmDispatcherFromConfig(
  config.warm,
  {
    doc,
    ...(config.warm.pools.length > 0 ? { sqs: new SQSClient(regionOption(config.region)) } : {}),
  },
  logger,
);
const launcher = new DagLauncher(launcherOptionsFromConfig(config), {
  persistence,
  ...(warm ? { warm } : {}),
  ecsClient: new ECSClient(regionOption(config.region)),
  logger,
  metrics: stdoutMetricSink,
});

export const handler = (event: unknown): Promise<LaunchEventResult> =>
  handleLaunchEvent(event, {
    launcher,
    logger,
    ...(config.environment !== undefined ? { environment: config.environment } : {}),
  });
