/**
 * HTTP API handler (API Gateway HTTP API, payload 2.0). Clients, launcher and services are
 * built once per execution environment; each request is routed by `createApi`.
 */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { createApi, createAuthResolver, type HttpApiEvent, type HttpResponse } from "../lib/api";
import { DagLauncher } from "../lib/launcher/dag-launcher";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { EventBridgeScheduleService } from "../lib/schedules/eventbridge";
import {
  authModeFromEnv,
  createDocClient,
  endpointsFromEnv,
  FUNCTION_ENV,
  HANDLER_ENV,
  LAUNCHER_ENV,
  optionalEnv,
  PLATFORM_ENV,
  tablesFromEnv,
} from "./config";

const env = process.env;
const logger = createJsonLogger({ component: "api" });
const endpoints = endpointsFromEnv(env);
// DynamoDB only: with no object store the launcher keeps large parameters in the run record,
// and the S3 client stays out of this bundle.
const persistence = new Persistence(createDocClient(endpoints), tablesFromEnv(env), { logger });
const launcher = DagLauncher.fromEnv(env, { persistence, logger });

const launchFunctionArn = optionalEnv(env, FUNCTION_ENV.launchFunctionArn);
const schedulerRoleArn = optionalEnv(env, HANDLER_ENV.schedulerRoleArn);
const schedulerGroup = optionalEnv(env, HANDLER_ENV.schedulerGroup);
const schedulePrefix = optionalEnv(env, FUNCTION_ENV.scheduleRulePrefix);
const awsClientConfig = endpoints.region !== undefined ? { region: endpoints.region } : {};
const schedules =
  launchFunctionArn === undefined
    ? undefined
    : new EventBridgeScheduleService({
        events: new EventBridgeClient(awsClientConfig),
        launchFunctionArn,
        ...(schedulePrefix !== undefined ? { namePrefix: schedulePrefix } : {}),
        ...(schedulerRoleArn !== undefined
          ? { scheduler: new SchedulerClient(awsClientConfig), schedulerRoleArn }
          : {}),
        ...(schedulerGroup !== undefined ? { schedulerGroup } : {}),
      });
const orgClaim = optionalEnv(env, FUNCTION_ENV.apiOrgClaim);
const logGroup = optionalEnv(env, LAUNCHER_ENV.logGroup);
const region = optionalEnv(env, PLATFORM_ENV.region);

const api = createApi({
  launcher,
  persistence,
  ...(schedules !== undefined ? { schedules } : {}),
  auth: createAuthResolver(authModeFromEnv(env), orgClaim !== undefined ? { orgClaim } : {}),
  environment: optionalEnv(env, FUNCTION_ENV.environment) ?? "",
  ...(region !== undefined ? { region } : {}),
  ...(logGroup !== undefined ? { logGroup } : {}),
  logger,
});

export const handler = (event: HttpApiEvent): Promise<HttpResponse> => api.handle(event);
