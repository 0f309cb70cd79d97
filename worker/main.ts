/**
 * The Fargate worker's entry point: `node /app/worker.js` in the image, or
 * `node .dagy/build/worker.js` as LocalBackend's child process — the same environment either
 * way. The only module that reads `process.env`; everything else gets a typed WorkerConfig.
 *
 * Exit codes (EXIT_CODES in lib/worker/run-host.ts): 0 succeeded, 1 a task failed, 2 worker
 * error (configuration, artifact, dependency package, crash), 3 cancelled, 4 stopped by
 * SIGTERM without a cancel request (Spot interruption, StopTask), 5 the run was not QUEUED.
 */
import { performance } from "node:perf_hooks";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { createDataClients, destroyDataClients, type DataClients } from "../lib/aws/clients";
import { PLATFORM_ENV, WORKER_ENV } from "../lib/config/env";
import { RunRepository } from "../lib/persistence/runs";
import { ObjectStore } from "../lib/storage/object-store";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import {
  announceTerminalTransitions,
  createRunStatusAnnouncer,
  type PutEvents,
} from "../lib/events/run-status";
import { parseWorkerConfig, peekRunId, stopDeadlineMs } from "../lib/worker/config";
import { createJsonLogger, createRedactor, stdoutLines } from "../lib/log";
import { redactProcessOutput } from "../lib/worker/redact";
import { EXIT_CODES, WorkerHost, recordStartFailure } from "../lib/worker/run-host";

// Imports are evaluated first, so this is "process start -> bundle loaded -> main".
const mainStartedAt = Math.round(performance.now() * 10) / 10;

/** Isolated maps on the embedded platform: one launch request per 100 children, brisk polls. */
const LOCAL_ISOLATED_MAP = {
  launchBatchSize: 100,
  launchIntervalMs: 0,
  pollMs: 250,
  maxPollMs: 2000,
} as const;

/** Lines the worker writes before (or without) its run's logger. */
const log = createJsonLogger({}, stdoutLines);

/**
 * The configuration is invalid: say so, and when the run id and the runs table are known,
 * record the run FAILED so it does not wait in QUEUED for the sweep.
 */
async function failWithoutConfig(error: unknown): Promise<number> {
  const text = `Worker configuration is invalid: ${error instanceof Error ? error.message : String(error)}`;
  const runId = peekRunId(process.env);
  log.error(text, { event_type: "worker_error", run_id: runId });
  const runsTable = process.env[WORKER_ENV.runsTable];
  if (runId === undefined || !runsTable) return EXIT_CODES.workerError;
  let clients: DataClients | undefined;
  try {
    clients = createDataClients({
      ...(process.env[PLATFORM_ENV.region] ? { region: process.env[PLATFORM_ENV.region] } : {}),
      ...(process.env[PLATFORM_ENV.dynamodbEndpoint]
        ? { dynamodbEndpoint: process.env[PLATFORM_ENV.dynamodbEndpoint] }
        : {}),
    });
    await recordStartFailure(new RunRepository(clients.doc, runsTable), runId, text);
  } catch (writeError) {
    log.error("could not record the run as FAILED", {
      event_type: "worker_error",
      run_id: runId,
      error: writeError instanceof Error ? writeError.message : String(writeError),
    });
  } finally {
    if (clients) destroyDataClients(clients);
  }
  return EXIT_CODES.workerError;
}

async function main(): Promise<number> {
  // The SDK's "Node < 22" notice is for developers, not a run's log (the image runs Node 22).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  let config;
  try {
    config = parseWorkerConfig(process.env);
  } catch (error) {
    return failWithoutConfig(error);
  }

  // Task code may print a secret itself; nothing the process writes may carry one.
  if (config.secretValues.length > 0) redactProcessOutput(createRedactor(config.secretValues));

  const clients = createDataClients({
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(config.dynamodbEndpoint !== undefined ? { dynamodbEndpoint: config.dynamodbEndpoint } : {}),
    ...(config.s3Endpoint !== undefined ? { s3Endpoint: config.s3Endpoint } : {}),
  });
  // Loaded only when shipping is on: the client module is a sizeable part of the bundle's
  // start-up cost, and most runs do not need it.
  let logs: CloudWatchLogsClient | undefined;
  if (config.logShipping) {
    const { CloudWatchLogsClient } = await import("../lib/worker/cloudwatch-logs");
    logs = new CloudWatchLogsClient({
      ...(config.region !== undefined ? { region: config.region } : {}),
    });
  }
  // The run's terminal status is announced (`Dagy Run Status Change`) where it is written.
  let events: EventBridgeClient | undefined;
  let putEvents: PutEvents | undefined;
  if (config.runStatusEvents === "eventbridge") {
    const { EventBridgeClient, putEventsWith } = await import("../lib/events/eventbridge");
    events = new EventBridgeClient({
      ...(config.region !== undefined ? { region: config.region } : {}),
    });
    putEvents = putEventsWith(events);
  }
  const runs = announceTerminalTransitions(
    new RunRepository(clients.doc, config.runsTable, {
      warn: (message, fields) =>
        log.warn(message, { event_type: "persistence_warning", ...fields }),
    }),
    createRunStatusAnnouncer({
      logger: log.child({ run_id: config.runId }),
      ...(putEvents !== undefined ? { putEvents } : {}),
    }),
  );
  // After SIGTERM the worker drains within the container's stop timeout, less a margin.
  const stopDeadline = stopDeadlineMs(config.stopTimeoutSeconds);
  const host = new WorkerHost(config, {
    runs,
    store: new ObjectStore(clients.s3),
    ...(logs !== undefined ? { logs } : {}),
    mainStartedAt,
    // Local child runs are processes on this machine: no RunTask rate to respect.
    ...(config.dynamodbEndpoint !== undefined ? { isolatedMap: LOCAL_ISOLATED_MAP } : {}),
  });

  const onSignal = (signal: NodeJS.Signals) => {
    host.stop(
      signal === "SIGTERM"
        ? undefined
        : `worker received ${signal} (stopped from the terminal or by its parent)`,
    );
    // Tasks see their abort signal and may clean up; never outlive ECS's stop timeout.
    setTimeout(() => {
      log.error(`worker did not finish within ${stopDeadline} ms of ${signal}; exiting`, {
        event_type: "worker_deadline",
        run_id: config.runId,
      });
      process.exit(EXIT_CODES.interrupted);
    }, stopDeadline).unref();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  // A throw in a task's stray callback: fail the run rather than die with it RUNNING.
  process.on("uncaughtException", (error) => host.crash(error));
  // A task's floating promise that rejects is a bug in the task, not a reason to kill the run.
  process.on("unhandledRejection", (reason) => host.reportUnhandledRejection(reason));

  try {
    const outcome = await host.run();
    return outcome.exitCode;
  } finally {
    logs?.destroy();
    events?.destroy();
    destroyDataClients(clients);
  }
}

/**
 * Exits once stdout and stderr have taken everything written: to a pipe (LocalBackend, the
 * awslogs driver) a large line is written asynchronously, and process.exit would cut it off.
 */
function exitAfterOutput(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
  // A reader that never drains must not keep a finished worker alive.
  setTimeout(() => process.exit(code), 2000).unref();
}

main()
  .then((code) => {
    // Explicit exit: tasks that ignored their abort signal may still hold timers or sockets.
    exitAfterOutput(code);
  })
  .catch((error: unknown) => {
    log.error(`worker failed: ${error instanceof Error ? error.message : String(error)}`, {
      event_type: "worker_error",
      stack: error instanceof Error ? error.stack : undefined,
    });
    exitAfterOutput(EXIT_CODES.workerError);
  });
