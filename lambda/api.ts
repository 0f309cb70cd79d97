/**
 * HTTP API handler (API Gateway HTTP API, payload 2.0) for every route but registration's
 * (lib/api/routes.ts, `fn: "api"`): launches, runs, flows read, schedules, deployments, logs.
 * Configuration is parsed and every object built once per execution environment. It imports
 * the core services only (lib/services/core.ts), so the registration code (presigner,
 * archive checks: lambda/registration.ts) is not in its bundle.
 */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { ECSClient } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import {
  createAuthResolver,
  createCoreApi,
  type HttpApiEvent,
  type HttpResponse,
} from "../lib/api";
import { createDocClient, createS3Client, endpointsOf, regionOption } from "../lib/aws/clients";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { createJsonLogger } from "../lib/log";
import { stdoutMetricSink } from "../lib/metrics";
import { createCoreServices } from "../lib/services/core";

const config = parseRuntimeConfig(process.env, "api");
const logger = createJsonLogger({ component: "api" });
const endpoints = endpointsOf(config);
const region = regionOption(config.region);
const services = createCoreServices(
  config,
  {
    doc: createDocClient(endpoints),
    s3: createS3Client(endpoints),
    ecs: new ECSClient(region),
    events: new EventBridgeClient(region),
    scheduler: new SchedulerClient(region),
    logs: new CloudWatchLogsClient(region),
    // Warm pools (DAGY_WARM_POOLS): assignments and fallbacks go through SQS.
    ...(config.warm.pools.length > 0 ? { sqs: new SQSClient(region) } : {}),
  },
  { logger, launcherDeps: { metrics: stdoutMetricSink } },
);
const api = createCoreApi({
  services,
  auth: createAuthResolver(config.api.authMode, {
    ...(config.api.orgClaim !== undefined ? { orgClaim: config.api.orgClaim } : {}),
    // Its sessions are parent runs' workers asking for child runs (lib/services/worker-calls.ts).
    ...(config.ecs.taskRoleArn !== undefined ? { workerRoleArn: config.ecs.taskRoleArn } : {}),
  }),
  ...(config.region !== undefined ? { region: config.region } : {}),
  ...(config.ecs.logGroup !== undefined ? { logGroup: config.ecs.logGroup } : {}),
  logger,
});

export const handler = (event: HttpApiEvent): Promise<HttpResponse> => api.handle(event);
