/**
 * The embedded default: the whole platform in one process, no AWS account. dynalite and s3rver
 * persisted under the data directory, the HTTP API served by the same `lib/api` handler as the
 * `api` Lambda, runs executed by LocalBackend worker processes (the Fargate container's entry
 * point), schedules fired by the same evaluator into the same launch logic, and workers that
 * die reconciled by the service the ECS task-events Lambda calls.
 */
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createApi, createAuthResolver } from "../api";
import { createDataClients, destroyDataClients } from "../aws/clients";
import { FUNCTION_ENV, LAUNCHER_ENV, PLATFORM_ENV } from "../config/env";
import { parseRuntimeConfig } from "../config/runtime";
import { createConsoleHandler } from "../console/server";
import { ConfigurationError } from "../errors";
import { LocalBackend } from "../launcher/local-backend";
import { tableNamesFor } from "../persistence/schema";
import { handleLaunchEvent, type LaunchEventResult } from "../schedules/launch-event";
import type { LaunchEventInput } from "../schedules/types";
import { createServices, FileRunLogSource } from "../services";
import { runChangesFrom } from "./run-changes";
import { tableWritesFrom } from "./table-writes";
import type { ObjectStore } from "../storage/object-store";
import { defaultWorkerCommand } from "../worker/bundle";
import {
  EXAMPLE_INPUT,
  PACKAGE_ROOT,
  listExampleFlows,
  registerExamples,
  seedExampleInput,
} from "./examples";
import { startHttpApiServer, type HttpApiServer } from "./http-server";
import { humanLogger } from "./human-log";
import type { LocalPlatform, LocalPlatformOptions } from "./platform-types";
import { recoverInterruptedRuns } from "./recovery";
import { LocalScheduleService } from "./scheduler";
import { ensureLocalSecretsFile, localSecretsPath } from "./secrets";
import {
  checkStoresAgainstManifest,
  ensureBuckets,
  ensureTables,
  recordDataManifest,
  startLocalServers,
  type LocalServers,
} from "./servers";
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_WARM,
  MAX_WARM,
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_ORG,
  DEFAULT_PORT,
  LOCAL_ARTIFACT_BUCKET,
  LOCAL_ENVIRONMENT,
  LOCAL_REGION,
  LOCAL_TABLE_PREFIX,
  LOCAL_TRACES_BUCKET,
  checkDataFiles,
  logDirOf,
  PRIVATE_DIR_MODE,
  readPlatformState,
  removePlatformState,
  resetDataDir,
  restrictDataPermissions,
  schedulesFileOf,
  writePlatformState,
} from "./state";
import { createWorkerExitReconciler } from "./worker-exit";

export { EXAMPLE_INPUT, PACKAGE_ROOT } from "./examples";
export type {
  ExampleRegistration,
  LocalPlatform,
  LocalPlatformOptions,
  PlatformTimings,
} from "./platform-types";
export { RESTART_MESSAGE } from "./recovery";
export { LOCAL_OOM_REASON, SHUTDOWN_REASON } from "./worker-exit";

/** Data directories opened by platforms of this process. */
const OPEN_DATA_DIRS = new Set<string>();

export async function startLocalPlatform(
  options: LocalPlatformOptions = {},
): Promise<LocalPlatform> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const cwd = resolve(options.cwd ?? process.cwd());
  const dataDir = resolve(cwd, options.dataDir ?? DEFAULT_DATA_DIR);
  const orgId = options.orgId ?? DEFAULT_ORG;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ConfigurationError(`concurrency must be a whole number >= 1, got ${concurrency}`);
  }
  const warm = options.warm ?? DEFAULT_WARM;
  if (!Number.isInteger(warm) || warm < 0 || warm > MAX_WARM) {
    throw new ConfigurationError(`warm must be a whole number from 0 to ${MAX_WARM}, got ${warm}`);
  }
  await mkdir(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });

  // A platform.json naming this very pid is stale (pids restart at 1 in containers) unless
  // this process opened the directory itself.
  const other = readPlatformState(dataDir);
  if (OPEN_DATA_DIRS.has(dataDir) || (other !== undefined && other.pid !== process.pid)) {
    const who = other !== undefined ? ` (pid ${other.pid}, ${other.apiUrl})` : "";
    throw new ConfigurationError(
      `a Dagy platform is already running on ${dataDir}${who}; ` +
        "stop it first, or start another with --data-dir <dir> --port <port>",
    );
  }
  OPEN_DATA_DIRS.add(dataDir);

  // Set as soon as close() is called: workers dying from then on were stopped by the shutdown
  // (a terminal's Ctrl-C reaches them too), not by a crash.
  let closing = false;
  // Everything opened so far, closed in reverse if startup fails half-way.
  const cleanups: Array<() => Promise<void> | void> = [() => void OPEN_DATA_DIRS.delete(dataDir)];
  const unwind = async () => {
    for (const cleanup of cleanups.reverse())
      await Promise.resolve(cleanup()).catch(() => undefined);
  };

  try {
    // The worker bundle builds while the stores start.
    const workerStarted = Date.now();
    const workerCommandPromise: Promise<readonly string[]> =
      options.workerCommand !== undefined
        ? Promise.resolve(options.workerCommand)
        : defaultWorkerCommand();
    let workerMs = 0;
    void workerCommandPromise.then(
      () => (workerMs = Date.now() - workerStarted),
      () => undefined,
    );

    // Before any server starts: a server would quietly create an empty store in place of a
    // missing one.
    if (options.reset === true) await resetDataDir(dataDir);
    const manifest = await checkDataFiles(dataDir);
    await restrictDataPermissions(dataDir);

    let servers: LocalServers;
    try {
      servers = await startLocalServers({ dataDir });
    } catch (error) {
      throw new ConfigurationError(
        `cannot open the local stores in ${dataDir}: ${(error as Error).message}` +
          " (another process may be using this data directory)",
        { cause: error },
      );
    }
    cleanups.push(() => servers.close());
    const clients = createDataClients({
      region: LOCAL_REGION,
      dynamodbEndpoint: servers.dynamodbEndpoint,
      s3Endpoint: servers.s3Endpoint,
    });
    cleanups.push(() => destroyDataClients(clients));
    const tables = tableNamesFor(LOCAL_TABLE_PREFIX);
    const bucketNames = [LOCAL_ARTIFACT_BUCKET, LOCAL_TRACES_BUCKET];
    await checkStoresAgainstManifest(dataDir, clients, manifest);
    await Promise.all([
      ensureTables(clients.dynamodb, tables),
      ensureBuckets(clients.s3, bucketNames),
    ]);
    const createdAt = manifest?.createdAt ?? new Date().toISOString();
    const recordContents = () =>
      recordDataManifest(dataDir, clients, {
        tables: Object.values(tables),
        buckets: bucketNames,
        createdAt,
      });
    await recordContents();
    // At shutdown (after the workers stopped, before the clients close): the counts a restart
    // checks against.
    cleanups.push(recordContents);
    // The guide's example input, outside the manifest: it is sample data, not platform state.
    if (options.registerExamples !== false && options.flowFiles === undefined) {
      await ensureBuckets(clients.s3, [EXAMPLE_INPUT.bucket]);
      await seedExampleInput(clients.s3);
    }
    const storesMs = Date.now() - started;

    const secretsFile = localSecretsPath(dataDir);
    const secretCount = await ensureLocalSecretsFile(secretsFile);
    const logDir = logDirOf(dataDir);
    const reconcileLogger = humanLogger(log, "reconcile");

    // Worker exits are reconciled exactly as the ECS task-events Lambda reconciles stopped tasks.
    const { onExit, pending } = createWorkerExitReconciler({
      isClosing: () => closing,
      getServices: () => services,
      logger: reconcileLogger,
      log,
    });

    const workerCommand = await workerCommandPromise;
    const backend = new LocalBackend({
      workerCommand,
      cwd,
      maxConcurrent: concurrency,
      logDir,
      dynamodbEndpoint: servers.dynamodbEndpoint,
      s3Endpoint: servers.s3Endpoint,
      region: LOCAL_REGION,
      secretsFile,
      stopGraceMs: options.stopGraceMs ?? 5000,
      onExit,
      warm,
      // Artifacts are immutable and named by their hash: one download per machine, not per run.
      artifactCacheDir: join(dataDir, "cache", "artifacts"),
      log,
    });
    cleanups.push(async () => {
      closing = true;
      await backend.close();
      await Promise.allSettled([...pending]);
    });

    // The very function the launch Lambda's handler wraps (schedules fire through it).
    const launchLogger = humanLogger(log, "launch");
    const launchEvent = (input: LaunchEventInput): Promise<LaunchEventResult> =>
      handleLaunchEvent(input, {
        launcher: services.launcher,
        logger: launchLogger,
        environment: LOCAL_ENVIRONMENT,
      });
    const schedules = await LocalScheduleService.open({
      file: schedulesFileOf(dataDir),
      launch: launchEvent,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      onFire: (schedule, result) => {
        const r = result as LaunchEventResult;
        log(
          r.success
            ? `schedule ${schedule.orgId}/${schedule.name} launched ${schedule.input.flow_name}: run ${r.run_id ?? "?"}`
            : `schedule ${schedule.orgId}/${schedule.name} could not launch ${schedule.input.flow_name}: ${r.error_message ?? "unknown error"}`,
        );
      },
      onError: (error, schedule) =>
        log(`error: schedule ${schedule.orgId}/${schedule.name}: ${(error as Error).message}`),
    });
    cleanups.push(() => schedules.stop());

    // Parsed by the same schema as the api Lambda's environment: the local platform is that
    // Lambda with a local compute backend, local stores and a local scheduler.
    const config = parseRuntimeConfig(
      {
        [FUNCTION_ENV.environment]: LOCAL_ENVIRONMENT,
        [PLATFORM_ENV.region]: LOCAL_REGION,
        [PLATFORM_ENV.computeBackend]: "local",
        [PLATFORM_ENV.dynamodbEndpoint]: servers.dynamodbEndpoint,
        [PLATFORM_ENV.s3Endpoint]: servers.s3Endpoint,
        [PLATFORM_ENV.flowsTable]: tables.flows,
        [PLATFORM_ENV.runsTable]: tables.runs,
        [PLATFORM_ENV.deploymentsTable]: tables.deployments,
        [PLATFORM_ENV.depPackagesTable]: tables.depPackages,
        [LAUNCHER_ENV.artifactBucket]: LOCAL_ARTIFACT_BUCKET,
        [LAUNCHER_ENV.tracesBucket]: LOCAL_TRACES_BUCKET,
        [FUNCTION_ENV.apiAuthMode]: "iam",
      },
      "api",
    );
    const services = createServices(
      config,
      { doc: clients.doc, s3: clients.s3 },
      {
        backend,
        scheduleStore: schedules,
        logSource: new FileRunLogSource(logDir),
        logger: humanLogger(log, "api"),
        runChanges: runChangesFrom(servers, tables.runs),
        flowTableWrites: tableWritesFrom(servers, tables.flows),
      },
    );
    const { persistence, launcher } = services;
    const store = services.store as ObjectStore;
    const recoveredRuns = await recoverInterruptedRuns(persistence);

    const examplesStarted = Date.now();
    const examples =
      options.flowFiles !== undefined
        ? await registerExamples(
            options.flowFiles,
            { persistence, store, artifactBucket: LOCAL_ARTIFACT_BUCKET },
            orgId,
            resolve(cwd, options.flowsRoot ?? cwd),
          )
        : options.registerExamples === false
          ? []
          : await registerExamples(
              await listExampleFlows(
                options.examplesDir ?? join(PACKAGE_ROOT, "examples", "flows"),
              ),
              { persistence, store, artifactBucket: LOCAL_ARTIFACT_BUCKET },
              orgId,
            );
    const examplesMs = Date.now() - examplesStarted;

    const api = createApi({
      services,
      // No authentication on 127.0.0.1: like the stack's IAM mode, the org comes from the request.
      auth: createAuthResolver("local"),
      logStreamLink: (run) => ({
        log_group: null,
        log_stream: run.log_stream ?? join(logDir, `${run.run_id}.log`),
        console_url: null,
      }),
      logger: humanLogger(log, "api"),
    });

    const host = options.host ?? DEFAULT_HOST;
    const port = options.port ?? DEFAULT_PORT;
    let server: HttpApiServer;
    try {
      server = await startHttpApiServer({
        handler: (event) => api.handle(event),
        intercept: createConsoleHandler({
          defaultOrg: orgId,
          onError: (error) => log(`console: ${(error as Error).message}`),
        }),
        host,
        port,
        ...(options.accessLog
          ? {
              onRequest: (r) => log(`${r.method} ${r.path} ${r.statusCode} ${r.durationMs} ms`),
            }
          : {}),
        onError: (error) => log(`error: ${(error as Error).stack ?? String(error)}`),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new ConfigurationError(
          `port ${port} on ${host} is already in use; stop what uses it, or start with --port <n> (or DAGY_PORT)`,
        );
      }
      throw error;
    }
    // First to close: no new requests while everything else stops.
    cleanups.push(() => server.close());
    // Isolated maps: a parent run's worker asks this API for its child runs.
    backend.setApiUrl(server.url);

    if (options.startScheduler !== false) schedules.start();

    await writePlatformState(dataDir, {
      pid: process.pid,
      apiUrl: server.url,
      dynamodbEndpoint: servers.dynamodbEndpoint,
      s3Endpoint: servers.s3Endpoint,
      region: LOCAL_REGION,
      tablePrefix: LOCAL_TABLE_PREFIX,
      artifactBucket: LOCAL_ARTIFACT_BUCKET,
      tracesBucket: LOCAL_TRACES_BUCKET,
      logDir,
      startedAt: new Date().toISOString(),
    });
    cleanups.push(() => removePlatformState(dataDir, process.pid));

    let closePromise: Promise<void> | undefined;
    return {
      url: server.url,
      dataDir,
      cwd,
      orgId,
      endpoints: { dynamodbEndpoint: servers.dynamodbEndpoint, s3Endpoint: servers.s3Endpoint },
      tables,
      buckets: { artifacts: LOCAL_ARTIFACT_BUCKET, traces: LOCAL_TRACES_BUCKET },
      logDir,
      secretsFile,
      secretCount,
      concurrency,
      warm,
      clients,
      persistence,
      store,
      launcher,
      backend,
      schedules,
      api,
      services,
      examples,
      recoveredRuns,
      timings: { storesMs, workerMs, examplesMs, readyMs: Date.now() - started },
      launchEvent,
      async settled() {
        while (pending.size > 0) await Promise.allSettled([...pending]);
      },
      close() {
        closing = true;
        closePromise ??= unwind();
        return closePromise;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}
