/**
 * The Fargate worker's entry point: `node /app/worker.js` in the image, or
 * `node .dagy/build/worker.js` as LocalBackend's child process — the same environment either
 * way. The only module that reads `process.env`; everything else gets a typed WorkerConfig.
 *
 * Exit codes (EXIT_CODES in lib/worker/run-host.ts): 0 succeeded, 1 a task failed, 2 worker
 * error (configuration, artifact, dependency package, crash), 3 cancelled, 4 stopped by
 * SIGTERM without a cancel request (Spot interruption, StopTask), 5 the run was not QUEUED.
 *
 * Warm mode (DAGY_WARM_SOURCE=ipc|sqs, issue #14): started with platform variables only, the
 * worker opens its clients and waits for one assignment (lib/worker/warm-worker.ts), whose
 * variables it lays over its own environment before running exactly as above. A SIGTERM while
 * idle exits 0.
 */
import { performance } from "node:perf_hooks";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { createDataClients, destroyDataClients, type DataClients } from "../lib/aws/clients";
import { PLATFORM_ENV, WARM_ENV, WORKER_ENV } from "../lib/config/env";
import { RunRepository } from "../lib/persistence/runs";
import type { RunRecord } from "../lib/persistence/records";
import { ObjectStore } from "../lib/storage/object-store";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import {
  announceTerminalTransitions,
  createRunStatusAnnouncer,
  type PutEvents,
} from "../lib/events/run-status";
import {
  WORKER_EXTRA_ENV,
  parseWorkerConfig,
  peekRunId,
  stopDeadlineMs,
  type WorkerConfig,
} from "../lib/worker/config";
import { withArtifactCache } from "../lib/worker/artifact-cache";
import { startClaim } from "../lib/worker/run-claim";
import { createIpcAssignmentSource } from "../lib/worker/ipc-assignments";
import { Preloader, type PreloadedArtifact } from "../lib/worker/preload";
import { readOwnTaskArn } from "../lib/worker/task-metadata";
import type { AssignmentSource } from "../lib/worker/warm";
import { serveAssignments, type AssignmentOutcome } from "../lib/worker/warm-worker";
import { createJsonLogger, createRedactor, stdoutLines } from "../lib/log";
import { redactProcessOutput } from "../lib/worker/redact";
import {
  EXIT_CODES,
  WorkerHost,
  recordStartFailure,
  type WorkerDeps,
} from "../lib/worker/run-host";

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

/** Where the worker's data clients point: the platform variables, read before any run. */
function openDataClients(env: NodeJS.ProcessEnv): DataClients {
  const region = env[PLATFORM_ENV.region]?.trim();
  const dynamodbEndpoint = env[PLATFORM_ENV.dynamodbEndpoint]?.trim();
  const s3Endpoint = env[PLATFORM_ENV.s3Endpoint]?.trim();
  return createDataClients({
    ...(region ? { region } : {}),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    ...(s3Endpoint ? { s3Endpoint } : {}),
  });
}

/** How one run is hosted: the worker's task when known, a hook at the claim. */
interface RunOptions {
  readonly clients: DataClients;
  readonly task?: WorkerDeps["task"];
  readonly onClaimed?: () => void;
  readonly preloaded?: PreloadedArtifact;
  /** The run as the pool claimed it for this worker: no claim of its own. */
  readonly claimed?: RunRecord;
}

/** Parses the run's configuration from process.env and runs it. */
async function runFromEnv(
  options: Omit<RunOptions, "task"> & { readonly warm?: { readonly taskArn?: string } },
): Promise<AssignmentOutcome> {
  let config: WorkerConfig;
  try {
    config = parseWorkerConfig(process.env);
  } catch (error) {
    return { exitCode: await failWithoutConfig(error), claimed: false };
  }
  const taskArn = config.taskArn ?? options.warm?.taskArn;
  return runOne(config, {
    ...options,
    ...(taskArn !== undefined
      ? { task: { taskArn, startMode: options.warm !== undefined ? "warm" : "cold" } }
      : {}),
  });
}

async function runOne(config: WorkerConfig, options: RunOptions): Promise<AssignmentOutcome> {
  // Task code may print a secret itself; nothing the process writes may carry one.
  if (config.secretValues.length > 0) redactProcessOutput(createRedactor(config.secretValues));
  const { clients } = options;
  const repository = new RunRepository(clients.doc, config.runsTable, {
    warn: (message, fields) => log.warn(message, { event_type: "persistence_warning", ...fields }),
  });
  // The claim goes out first; loading clients and setting up the host overlap its round trip.
  // (QUEUED -> RUNNING is not terminal: nothing to announce.)
  if (options.claimed !== undefined) repository.adopt(options.claimed);
  const claimStarted =
    options.claimed !== undefined
      ? Promise.resolve(options.claimed)
      : startClaim({ config, runs: repository, task: options.task });
  claimStarted.catch(() => undefined); // the host awaits it and reports a failure
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
    repository,
    createRunStatusAnnouncer({
      logger: log.child({ run_id: config.runId }),
      ...(putEvents !== undefined ? { putEvents } : {}),
    }),
  );
  // After SIGTERM the worker drains within the container's stop timeout, less a margin.
  const stopDeadline = stopDeadlineMs(config.stopTimeoutSeconds);
  const host = new WorkerHost(config, {
    claimStarted,
    runs,
    store: artifactStore(new ObjectStore(clients.s3), config),
    ...(logs !== undefined ? { logs } : {}),
    mainStartedAt,
    // Local child runs are processes on this machine: no RunTask rate to respect.
    ...(config.dynamodbEndpoint !== undefined ? { isolatedMap: LOCAL_ISOLATED_MAP } : {}),
    ...(options.task !== undefined ? { task: options.task } : {}),
    ...(options.onClaimed !== undefined ? { onClaimed: options.onClaimed } : {}),
    ...(options.preloaded !== undefined ? { preloaded: options.preloaded } : {}),
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
  // A throw in a task's stray callback: fail the run rather than die with it RUNNING.
  const onCrash = (error: Error): void => host.crash(error);
  // A task's floating promise that rejects is a bug in the task, not a reason to kill the run.
  const onRejection = (reason: unknown): void => host.reportUnhandledRejection(reason);
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onRejection);

  try {
    const outcome = await host.run();
    return { exitCode: outcome.exitCode, claimed: host.hasClaimed() };
  } finally {
    logs?.destroy();
    events?.destroy();
    if (!host.hasClaimed()) {
      // A warm worker that was handed a run not its own waits for the next one: this run's
      // handlers must not outlive it.
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      process.off("uncaughtException", onCrash);
      process.off("unhandledRejection", onRejection);
    }
  }
}

/** Locally (DAGY_ARTIFACT_CACHE_DIR), artifacts come from the shared cache by SHA-256. */
function artifactStore(
  store: ObjectStore,
  config: Pick<WorkerConfig, "artifactCacheDir" | "artifactUri" | "artifactSha256">,
): Pick<ObjectStore, "get" | "put"> {
  if (config.artifactCacheDir === undefined) return store;
  return withArtifactCache(store, {
    dir: config.artifactCacheDir,
    uri: config.artifactUri,
    sha256: config.artifactSha256,
  });
}

/** What an idle worker of the local pool prepares for its likely next run (preload.ts). */
function createPreloader(clients: DataClients): Preloader {
  const store = new ObjectStore(clients.s3);
  const cacheDir = process.env[WORKER_EXTRA_ENV.artifactCacheDir]?.trim() || undefined;
  return new Preloader({
    store: (uri, sha256) =>
      artifactStore(store, {
        ...(cacheDir !== undefined ? { artifactCacheDir: cacheDir } : {}),
        artifactUri: uri,
        artifactSha256: sha256,
      }),
    // A key no run has (run ids start with a letter or digit): a read, and a write whose
    // condition cannot hold, that only warm the client (its first requests are the slowest).
    touchRunsTable: async (table) => {
      const Key = { run_id: "#warm-probe" };
      await clients.doc.send(new GetCommand({ TableName: table, Key }));
      await clients.doc
        .send(
          new UpdateCommand({
            TableName: table,
            Key,
            UpdateExpression: "SET #p = :p",
            ConditionExpression: "attribute_exists(#k)",
            ExpressionAttributeNames: { "#p": "probe", "#k": "run_id" },
            ExpressionAttributeValues: { ":p": true },
          }),
        )
        .catch(() => undefined);
    },
    onPreloaded: (uri, sha256, error) =>
      error === undefined
        ? log.info("artifact preloaded", { event_type: "artifact_preloaded", artifact_uri: uri })
        : log.warn("could not preload the artifact; the run loads it as usual", {
            event_type: "artifact_preload_failed",
            artifact_uri: uri,
            artifact_sha256: sha256,
            error: error instanceof Error ? error.message : JSON.stringify(error),
          }),
  });
}

/** A warm worker: clients open, runtime loaded, waiting for its one run. */
async function serveWarm(source: string): Promise<number> {
  const clients = openDataClients(process.env);
  try {
    let assignments: AssignmentSource;
    let taskArn: string | undefined;
    let preloader: Preloader | undefined;
    if (source === "ipc") {
      const idle = createPreloader(clients);
      preloader = idle;
      assignments = createIpcAssignmentSource((message) => idle.preload(message));
    } else if (source === "sqs") {
      const { createSqsAssignmentSource } = await import("../lib/worker/sqs-assignments");
      assignments = createSqsAssignmentSource(process.env, { doc: clients.doc });
      taskArn = await readOwnTaskArn(process.env);
    } else {
      log.error(`${WARM_ENV.source} must be "ipc" or "sqs", got "${source}"`, {
        event_type: "worker_error",
      });
      return EXIT_CODES.workerError;
    }
    return await serveAssignments({
      source: assignments,
      run: async (assignment) => {
        const preloaded = await preloader?.take(
          assignment.env[WORKER_ENV.artifactUri] ?? "",
          assignment.env[WORKER_ENV.artifactSha256] ?? "",
        );
        return runFromEnv({
          clients,
          warm: taskArn !== undefined ? { taskArn } : {},
          onClaimed: () => void assignment.ack(),
          ...(preloaded !== undefined ? { preloaded } : {}),
          ...(assignment.claimed !== undefined ? { claimed: assignment.claimed } : {}),
        });
      },
      onReleased: (runId, exitCode) =>
        log.info("the assigned run was not QUEUED; waiting for the next assignment", {
          event_type: "warm_assignment_released",
          run_id: runId,
          exit_code: exitCode,
        }),
    });
  } finally {
    destroyDataClients(clients);
  }
}

async function main(): Promise<number> {
  // The SDK's "Node < 22" notice is for developers, not a run's log (the image runs Node 22).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const warmSource = process.env[WARM_ENV.source]?.trim();
  if (warmSource) return serveWarm(warmSource);
  let config: WorkerConfig;
  try {
    config = parseWorkerConfig(process.env);
  } catch (error) {
    return failWithoutConfig(error);
  }
  const clients = openDataClients(process.env);
  try {
    const taskArn = config.taskArn;
    const outcome = await runOne(config, {
      clients,
      ...(taskArn !== undefined ? { task: { taskArn, startMode: "cold" as const } } : {}),
    });
    return outcome.exitCode;
  } finally {
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
