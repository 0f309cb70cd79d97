/**
 * Scheduled reconciliation sweep: the safety net for lost task events. Active runs idle for a
 * while are checked with DescribeTasks; stopped or vanished tasks close their runs, and QUEUED
 * runs that never got a task are failed.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { EcsTaskInspector } from "../lib/reconcile/ecs-inspector";
import {
  DEFAULT_QUEUED_AFTER_MS,
  DEFAULT_RUNNING_AFTER_MS,
  sweepStaleRuns,
} from "../lib/reconcile/service";
import type { SweepReport } from "../lib/reconcile/types";
import {
  createDocClient,
  endpointsFromEnv,
  HANDLER_ENV,
  LAUNCHER_ENV,
  minutesFromEnv,
  optionalEnv,
  PLATFORM_ENV,
  requiredEnv,
  tablesFromEnv,
} from "./config";

const env = process.env;
const logger = createJsonLogger({ component: "reconcile" });
const endpoints = endpointsFromEnv(env);
const persistence = new Persistence(createDocClient(endpoints), tablesFromEnv(env), { logger });
const ecs = new ECSClient(endpoints.region !== undefined ? { region: endpoints.region } : {});
const inspector = new EcsTaskInspector(
  ecs,
  requiredEnv(env, LAUNCHER_ENV.clusterArn),
  optionalEnv(env, PLATFORM_ENV.containerName),
);
const queuedAfterMs =
  minutesFromEnv(env, HANDLER_ENV.reconcileQueuedMinutes, DEFAULT_QUEUED_AFTER_MS / 60_000) *
  60_000;
const runningAfterMs =
  minutesFromEnv(env, HANDLER_ENV.reconcileRunningMinutes, DEFAULT_RUNNING_AFTER_MS / 60_000) *
  60_000;

export const handler = async (): Promise<SweepReport> => {
  const report = await sweepStaleRuns({
    runs: persistence.runs,
    inspector,
    logger,
    queuedAfterMs,
    runningAfterMs,
  });
  logger.info("reconciliation sweep done", {
    examined: report.examined,
    closed: report.outcomes.filter((o) => o.action === "failed" || o.action === "cancelled").length,
  });
  return report;
};
