/**
 * Warm fallback handler (SQS event source on the warm fallback queue, with
 * ReportBatchItemFailures): a warm dispatch that no pool worker claimed within the delay is
 * launched cold; a claimed one is left alone. Garbled messages are logged and dropped; I/O
 * errors return their record in `batchItemFailures` so only it is retried. Every write is
 * conditional, so a message delivered twice launches nothing twice.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { createDocClient, endpointsOf, regionOption } from "../lib/aws/dynamodb";
import { parseRuntimeConfig } from "../lib/config/runtime";
import { DagLauncher } from "../lib/launcher/dag-launcher";
import { launcherOptionsFromConfig } from "../lib/launcher/from-config";
import { putEventsWith } from "../lib/events/eventbridge";
import { announceTerminalTransitions, createRunStatusAnnouncer } from "../lib/events/run-status";
import { stdoutMetricSink } from "../lib/metrics";
import { createJsonLogger } from "../lib/log";
import { Persistence } from "../lib/persistence/persistence";
import { handleWarmFallbackEvent, type SqsBatchResponse } from "../lib/reconcile/warm-fallback";

const config = parseRuntimeConfig(process.env, "warm-fallback");
const logger = createJsonLogger({ component: "warm-fallback" });
const persistence = new Persistence(createDocClient(endpointsOf(config)), config.tables, {
  logger,
});
const launcher = new DagLauncher(launcherOptionsFromConfig(config), {
  persistence,
  ecsClient: new ECSClient(regionOption(config.region)),
  logger,
});
// A run this function fails (its cold launch refused) is announced and counted.
const runs = announceTerminalTransitions(
  persistence.runs,
  createRunStatusAnnouncer({
    logger,
    putEvents: putEventsWith(new EventBridgeClient(regionOption(config.region))),
    metrics: stdoutMetricSink,
  }),
);

export const handler = (event: unknown): Promise<SqsBatchResponse> =>
  handleWarmFallbackEvent(event, {
    runs,
    logger,
    relaunch: (run, next) => launcher.relaunch(run, next),
  });
