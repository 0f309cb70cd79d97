/**
 * Launch handler: the scheduled or direct event
 * `{"action":"launch","flow_name":...,"org_id":...,"environment":..., <launch fields>}`.
 * Returns the launch result in snake_case. Invalid events are answered with `success: false`
 * (not thrown: retrying them is pointless); unexpected failures are thrown so retries apply.
 */
import { DagLauncher } from "../lib/launcher/dag-launcher";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { handleLaunchEvent, type LaunchEventResult } from "../lib/schedules/launch-event";
import { createDocClient, endpointsFromEnv, tablesFromEnv } from "./config";

const env = process.env;
const logger = createJsonLogger({ component: "launch" });
// DynamoDB only: with no object store the launcher keeps large parameters in the run record,
// and the S3 client stays out of this bundle.
const persistence = new Persistence(createDocClient(endpointsFromEnv(env)), tablesFromEnv(env), {
  logger,
});
const launcher = DagLauncher.fromEnv(env, { persistence, logger });

export const handler = (event: unknown): Promise<LaunchEventResult> =>
  handleLaunchEvent(event, { launcher, logger });
