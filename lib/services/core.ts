/**
 * `createCoreServices(config, clients)`: what the api function serves — runs (launch, read,
 * cancel, logs, tracebacks), reading flows, deployments and schedules. It imports nothing of
 * registration (the S3 presigner, archive checks: ./registration.ts), so a bundle built from an
 * entry point that calls only this stays small. `createServices` (./index.ts) composes both.
 */
import type { RunChangeFeed } from "./run-changes";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SchedulerClient } from "@aws-sdk/client-scheduler";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { RuntimeConfig } from "../config/runtime";
import { ConfigurationError } from "../errors";
import { DagLauncher, type DagLauncherDeps } from "../launcher/dag-launcher";
import { launcherOptionsFromConfig } from "../launcher/from-config";
import type { ComputeBackend } from "../launcher/types";
import { warmDispatcherFromConfig } from "../launcher/warm-dispatch";
import { createJsonLogger, type JsonLogger } from "../log";
import type { TableWriteCount } from "../persistence/flows";
import { Persistence } from "../persistence/persistence";
import { EventBridgeScheduleService } from "../schedules/eventbridge";
import type { ScheduleService as ScheduleStore } from "../schedules/types";
import { ObjectStore } from "../storage/object-store";
import {
  CloudWatchRunLogSource,
  ObjectTracebackSource,
  type RunLogSource,
  type TracebackSource,
} from "./run-logs";
import { RunsService } from "./runs";
import { DeploymentsService } from "./deployments";
import { FlowCatalog } from "./flow-catalog";
import { SchedulesService } from "./schedules";

export interface ServiceClients {
  readonly doc: DynamoDBDocumentClient;
  /** Uploads, tracebacks and large parameters; without it those routes are unavailable. */
  readonly s3?: S3Client;
  readonly ecs?: ECSClient;
  readonly events?: EventBridgeClient;
  readonly scheduler?: SchedulerClient;
  readonly logs?: CloudWatchLogsClient;
  /** Fargate warm pools' queues (DAGY_WARM_POOLS); needed only when pools are configured. */
  readonly sqs?: SQSClient;
}

export interface ServiceOverrides {
  /** A compute backend other than ECS (the embedded platform's worker processes). */
  readonly backend?: ComputeBackend;
  /** Where schedules live, when not EventBridge (the embedded platform's scheduler). */
  readonly scheduleStore?: ScheduleStore;
  /** Where run logs are read, when not CloudWatch (the embedded platform's files). */
  readonly logSource?: RunLogSource;
  readonly logger?: JsonLogger;
  readonly clock?: () => Date;
  /** Extra launcher dependencies (id generator, ...). */
  readonly launcherDeps?: Pick<DagLauncherDeps, "idGenerator" | "metrics">;
  /** Parallel launches in a batch. Default 10. */
  readonly batchConcurrency?: number;
  /** What readers waiting for a run wake on (the embedded platform's store tap). */
  readonly runChanges?: RunChangeFeed;
  /**
   * Every write to the flows table, seen (the embedded platform's store tap): flow reads are
   * kept between writes.
   */
  readonly flowTableWrites?: TableWriteCount;
}

export interface CoreServices {
  readonly config: RuntimeConfig;
  readonly persistence: Persistence;
  readonly launcher: DagLauncher;
  readonly runs: RunsService;
  /** Reading flows; registering them is the registration services'. */
  readonly flows: FlowCatalog;
  readonly deployments: DeploymentsService;
  readonly schedules?: SchedulesService;
  readonly store?: ObjectStore;
}

export function createCoreServices(
  config: RuntimeConfig,
  clients: ServiceClients,
  overrides: ServiceOverrides = {},
): CoreServices {
  const logger = overrides.logger ?? createJsonLogger({ component: config.entryPoint });
  const clock = overrides.clock;
  const persistence = new Persistence(clients.doc, config.tables, {
    logger,
    ...(overrides.flowTableWrites !== undefined
      ? { flowTableWrites: overrides.flowTableWrites }
      : {}),
  });
  const store = clients.s3 ? new ObjectStore(clients.s3) : undefined;
  if (config.computeBackend === "ecs" && !overrides.backend && !clients.ecs) {
    throw new ConfigurationError("createServices: an ECS client is required with the ecs backend");
  }
  const warm = overrides.backend
    ? undefined
    : warmDispatcherFromConfig(
        config.warm,
        { doc: clients.doc, ...(clients.sqs ? { sqs: clients.sqs } : {}) },
        logger,
      );
  const launcher = new DagLauncher(launcherOptionsFromConfig(config), {
    persistence,
    ...(warm ? { warm } : {}),
    ...(store ? { store } : {}),
    ...(overrides.backend ? { backend: overrides.backend } : {}),
    ...(clients.ecs ? { ecsClient: clients.ecs } : {}),
    ...(clock ? { clock } : {}),
    ...overrides.launcherDeps,
    logger,
  });

  const logSource =
    overrides.logSource ??
    (clients.logs && config.ecs.logGroup
      ? new CloudWatchRunLogSource(clients.logs, config.ecs.logGroup)
      : undefined);
  const tracebacks: TracebackSource | undefined =
    store && config.tracesBucket
      ? new ObjectTracebackSource(store, config.tracesBucket)
      : undefined;
  const runs = new RunsService({
    launcher,
    secrets: config.secrets,
    runs: persistence.runs,
    ...(config.environment !== undefined ? { environment: config.environment } : {}),
    ...(logSource ? { logs: logSource } : {}),
    ...(tracebacks ? { tracebacks } : {}),
    ...(overrides.batchConcurrency !== undefined
      ? { batchConcurrency: overrides.batchConcurrency }
      : {}),
    ...(overrides.runChanges !== undefined ? { runChanges: overrides.runChanges } : {}),
  });

  const scheduleStore = overrides.scheduleStore ?? eventBridgeSchedules(config, clients);
  return {
    config,
    persistence,
    launcher,
    runs,
    flows: new FlowCatalog(persistence),
    deployments: new DeploymentsService(persistence, clock),
    ...(scheduleStore
      ? {
          schedules: new SchedulesService({
            store: scheduleStore,
            persistence,
            secrets: config.secrets,
            ...(config.environment !== undefined ? { environment: config.environment } : {}),
            ...(clock ? { clock } : {}),
          }),
        }
      : {}),
    ...(store ? { store } : {}),
  };
}

/** Runtime schedules as EventBridge rules (UTC) or Scheduler schedules (time zones). */
function eventBridgeSchedules(
  config: RuntimeConfig,
  clients: ServiceClients,
): ScheduleStore | undefined {
  const { launchFunctionArn, rulePrefix, schedulerRoleArn, schedulerGroup } = config.schedules;
  if (!launchFunctionArn || !clients.events) return undefined;
  return new EventBridgeScheduleService({
    events: clients.events,
    launchFunctionArn,
    ...(rulePrefix !== undefined ? { namePrefix: rulePrefix } : {}),
    ...(schedulerRoleArn !== undefined && clients.scheduler
      ? { scheduler: clients.scheduler, schedulerRoleArn }
      : {}),
    ...(schedulerGroup !== undefined ? { schedulerGroup } : {}),
  });
}
