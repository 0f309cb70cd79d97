/**
 * Launch handler: the scheduled or direct event
 * `{"action":"launch","flow_name":...,"org_id":...,"environment":..., <launch fields>}`.
 * Returns the launch result in snake_case. Invalid events are answered with `success: false`
 * (not thrown: retrying them is pointless); unexpected failures are thrown so retries apply.
 */
import { createDataClients } from "../lib/aws/clients";
import { DagLauncher } from "../lib/launcher/dag-launcher";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { handleLaunchEvent, type LaunchEventResult } from "../lib/schedules/launch-event";
import { endpointsFromEnv, tablesFromEnv } from "./config";

const env = process.env;
const logger = createJsonLogger({ component: "launch" });
const clients = createDataClients(endpointsFromEnv(env));
const persistence = new Persistence(clients.doc, tablesFromEnv(env), { logger });
const launcher = DagLauncher.fromEnv(env, { clients, persistence, logger });

export const handler = (event: unknown): Promise<LaunchEventResult> =>
  handleLaunchEvent(event, { launcher, logger });
