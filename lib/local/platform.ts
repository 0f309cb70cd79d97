/**
 * The embedded default: the whole platform in one process, no AWS account. dynalite and
 * s3rver persisted under the data directory, the HTTP API served by the very same `lib/api`
 * handler as the `api` Lambda, runs executed by LocalBackend worker processes (the very same
 * worker entry point as the Fargate container), schedules fired by the same expression
 * evaluator into the same launch logic, and workers that die reconciled by the same service
 * the ECS task-events Lambda calls.
 */
import { mkdir, readFile, readdir } from "node:fs/promises";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { constants as osConstants } from "node:os";
import { join, resolve } from "node:path";
import { createApi, createAuthResolver, type Api } from "../api";
import { buildFlow } from "../bundler/build";
import { createDataClients, destroyDataClients, type DataClients } from "../aws/clients";
import { FUNCTION_ENV, LAUNCHER_ENV, PLATFORM_ENV } from "../config/env";
import { parseRuntimeConfig } from "../config/runtime";
import { createConsoleHandler } from "../console/server";
import { ConfigurationError } from "../errors";
import { DagLauncher } from "../launcher/dag-launcher";
import { LocalBackend, localTaskArn, type LocalWorkerExit } from "../launcher/local-backend";
import { createJsonLogger, type JsonLogger } from "../log";
import { Persistence } from "../persistence/persistence";
import { tableNamesFor, type TableNames } from "../persistence/schema";
import { cancelOrphanedChildren, reconcileStoppedTask, type ReconcileOutcome } from "../reconcile";
import { handleLaunchEvent, type LaunchEventResult } from "../schedules/launch-event";
import type { LaunchEventInput } from "../schedules/types";
import { createServices, FileRunLogSource, type Services } from "../services";
import type { ObjectStore } from "../storage/object-store";
import { defaultWorkerCommand } from "../worker/bundle";
import { startHttpApiServer, type HttpApiServer } from "./http-server";
import { registerArtifact, type RegistrationOutcome } from "./registration";
import { LocalScheduleService, type Clock } from "./scheduler";
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

/** The repository (package) root: lib/local -> ../.. */
export const PACKAGE_ROOT = resolve(__dirname, "..", "..");

/** Container reason given to reconciliation for a worker that exhausted its heap. */
export const LOCAL_OOM_REASON =
  "OutOfMemoryError: Container killed due to memory usage (the worker's Node heap limit, from the run's memory, was reached)";

/** Error message of runs a previous session left active. */
export const RESTART_MESSAGE = "Local platform restarted while the run was active";
/** stoppedReason given to reconciliation for workers stopped by a platform shutdown. */
export const SHUTDOWN_REASON = "local platform stopped while the run was active";

/** Data directories opened by platforms of this process. */
const OPEN_DATA_DIRS = new Set<string>();

export interface LocalPlatformOptions {
  /** Where the platform keeps its data. Default `<cwd>/.dagy`. */
  readonly dataDir?: string;
  /** Working directory of workers (relative paths in parameters resolve here). Default: process cwd. */
  readonly cwd?: string;
  /** Default 127.0.0.1. The API has no authentication: keep it on the machine. */
  readonly host?: string;
  /** Default 8787; 0 picks a free port. */
  readonly port?: number;
  /** Workers running at once; more runs wait QUEUED. Default 4. */
  readonly concurrency?: number;
  /**
   * Idle warm workers kept per worker size, each ready to take a run in milliseconds (issue
   * #14). Default 2; 0 disables the pool (every run starts a new worker process).
   */
  readonly warm?: number;
  /** Register the example flows (`<package>/examples/flows/*.ts`). Default true. */
  readonly registerExamples?: boolean;
  /** Folder of flows registered at start. Default `<package>/examples/flows`. */
  readonly examplesDir?: string;
  /**
   * The user's flows (absolute paths), registered at start instead of the examples, built with
   * `flowsRoot` (default: `cwd`) as the base of their `metadata.source`.
   */
  readonly flowFiles?: readonly string[];
  readonly flowsRoot?: string;
  /** Org the examples are registered for. Default `acme-corp`. */
  readonly orgId?: string;
  /** argv of a worker. Default: the bundled worker (built once, cached under .dagy/build). */
  readonly workerCommand?: readonly string[];
  /** Fire schedules on their timer. Default true; tests drive `schedules.tick()` instead. */
  readonly startScheduler?: boolean;
  /** The schedules' clock. Default: the system clock. */
  readonly clock?: Clock;
  /** Human-readable progress lines (no trailing newline). Default: discarded. */
  readonly log?: (line: string) => void;
  /** Log each HTTP request. Default false. */
  readonly accessLog?: boolean;
  /** SIGTERM-to-SIGKILL grace for workers. Default 5 s. */
  readonly stopGraceMs?: number;
  /**
   * Delete the stores, logs and schedules first and start empty (`dagy dev --reset`). Without
   * it, a data directory whose stores are missing or damaged is refused, never emptied.
   */
  readonly reset?: boolean;
}

export interface ExampleRegistration {
  /** The flow file, relative to the package root. */
  readonly file: string;
  readonly flowName?: string;
  readonly version?: string;
  readonly status: RegistrationOutcome["status"] | "failed";
  readonly message?: string;
}

export interface PlatformTimings {
  /** dynalite + s3rver listening, tables and buckets present. */
  readonly storesMs: number;
  /** Worker bundle ready (cached or built). */
  readonly workerMs: number;
  /** Example flows built and registered. */
  readonly examplesMs: number;
  /** From the call to the API answering. */
  readonly readyMs: number;
}

export interface LocalPlatform {
  /** e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly dataDir: string;
  readonly cwd: string;
  readonly orgId: string;
  readonly endpoints: { readonly dynamodbEndpoint: string; readonly s3Endpoint: string };
  readonly tables: TableNames;
  readonly buckets: { readonly artifacts: string; readonly traces: string };
  readonly logDir: string;
  readonly secretsFile: string;
  readonly secretCount: number;
  readonly concurrency: number;
  /** Idle warm workers kept per worker size (0: none). */
  readonly warm: number;
  readonly clients: DataClients;
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly launcher: DagLauncher;
  readonly backend: LocalBackend;
  readonly schedules: LocalScheduleService;
  readonly api: Api;
  /** The use cases behind `api`, for front doors with another authorizer (tests of the CLI). */
  readonly services: Services;
  readonly examples: readonly ExampleRegistration[];
  /** Runs a previous session left QUEUED/RUNNING, now closed as FAILED. */
  readonly recoveredRuns: readonly string[];
  readonly timings: PlatformTimings;
  /** Delivers a launch event as EventBridge delivers it to the launch Lambda. */
  launchEvent(input: LaunchEventInput): Promise<LaunchEventResult>;
  /** Resolves once every reconciliation started so far has finished. */
  settled(): Promise<void>;
  /** Stops the API, the scheduler and every worker, then the stores. Idempotent. */
  close(): Promise<void>;
}

/** Exit code a shell reports for a signal, as ECS reports a killed container (137 = SIGKILL). */
function exitCodeOf(exit: LocalWorkerExit): number | undefined {
  if (exit.code !== null) return exit.code;
  if (exit.signal !== null) {
    const number = (osConstants.signals as Record<string, number | undefined>)[exit.signal];
    return number === undefined ? undefined : 128 + number;
  }
  return undefined;
}

function humanLogger(log: (line: string) => void, component: string): JsonLogger {
  return createJsonLogger({ component }, (line) => {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      const {
        timestamp: _t,
        level,
        message,
        component: _c,
        ...rest
      } = record as {
        timestamp?: unknown;
        level?: unknown;
        message?: unknown;
        component?: unknown;
      } & Record<string, unknown>;
      const fields = Object.entries(rest)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      const text = (v: unknown, fallback: string) => (typeof v === "string" ? v : fallback);
      log(`${text(level, "info")}: ${text(message, "")}${fields ? ` (${fields})` : ""}`);
    } catch {
      log(line);
    }
  });
}

/** Closes runs a previous session left active: their workers died with that session. */
async function recoverInterruptedRuns(persistence: Persistence): Promise<string[]> {
  const recovered: string[] = [];
  for (const status of ["QUEUED", "RUNNING"] as const) {
    let nextToken: string | undefined;
    do {
      const page = await persistence.runs.listActive({
        status,
        limit: 100,
        ...(nextToken !== undefined ? { nextToken } : {}),
      });
      for (const run of page.items) {
        const target = run.cancel_requested ? "CANCELLED" : "FAILED";
        const updated = await persistence.runs.transition(run.run_id, status, target, {
          error_message: RESTART_MESSAGE,
          stop_reason: "PlatformRestarted",
        });
        if (updated) recovered.push(run.run_id);
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
  }
  return recovered;
}

/**
 * The object the guide's example request reads (`"source": "s3://bucket/input.csv"`), put in the
 * local S3 at start when absent: the example orders.
 */
export const EXAMPLE_INPUT = {
  bucket: "bucket",
  key: "input.csv",
  file: join(PACKAGE_ROOT, "examples", "data", "orders.csv"),
} as const;

async function seedExampleInput(s3: DataClients["s3"]): Promise<void> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: EXAMPLE_INPUT.bucket, Key: EXAMPLE_INPUT.key }));
    return;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404)
      throw error;
  }
  const body = await readFile(EXAMPLE_INPUT.file).catch(() => undefined);
  if (body === undefined) return; // An installed package without the examples: nothing to seed.
  await s3.send(
    new PutObjectCommand({
      Bucket: EXAMPLE_INPUT.bucket,
      Key: EXAMPLE_INPUT.key,
      Body: body,
      ContentType: "text/csv",
    }),
  );
}

async function listExampleFlows(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names
    .filter((n) => /\.(ts|js|mts|mjs)$/.test(n) && !n.endsWith(".d.ts") && !n.includes(".test."))
    .sort()
    .map((n) => join(dir, n));
}

async function registerExamples(
  files: readonly string[],
  target: { persistence: Persistence; store: ObjectStore; artifactBucket: string },
  orgId: string,
  root: string = PACKAGE_ROOT,
): Promise<ExampleRegistration[]> {
  return Promise.all(
    files.map(async (file): Promise<ExampleRegistration> => {
      const relative = file.startsWith(root) ? file.slice(root.length + 1) : file;
      try {
        // cwd = the package (or project) root, so metadata.source (and the bytes) do not depend
        // on where `dagy dev` was started.
        const built = await buildFlow({ entry: file, cwd: root });
        const outcome = await registerArtifact(target, orgId, built.spec, built.artifact);
        return {
          file: relative,
          flowName: built.spec.name,
          version: built.spec.version,
          status: outcome.status,
          ...(outcome.status === "conflict" ? { message: outcome.message } : {}),
        };
      } catch (error) {
        return {
          file: relative,
          status: "failed",
          message: error instanceof Error ? error.message : String(error),
        };
      }
    }),
  );
}

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
    const pending = new Set<Promise<unknown>>();
    const onExit = (runId: string, exit: LocalWorkerExit): void => {
      const exitCode = exitCodeOf(exit);
      const stoppedReason = closing
        ? SHUTDOWN_REASON
        : exit.error !== undefined
          ? exit.error
          : exit.neverStarted
            ? "the run left the queue before its worker started"
            : exit.signal !== null
              ? `worker process killed by ${exit.signal}`
              : undefined;
      // A worker that died of heap exhaustion is reported as ECS reports a container killed for
      // memory, so oom_policy behaves here as it does on Fargate.
      const work = reconcileStoppedTask(
        {
          runId,
          taskArn: exit.taskArn ?? localTaskArn(runId),
          ...(exit.outOfMemory
            ? { exitCode: 137, containerReason: LOCAL_OOM_REASON }
            : exitCode !== undefined
              ? { exitCode }
              : {}),
          ...(stoppedReason !== undefined ? { stoppedReason } : {}),
        },
        {
          runs: services.persistence.runs,
          logger: reconcileLogger,
          // No relaunches while the platform shuts down: those runs end with the reason.
          ...(closing ? {} : { relaunch: (run, next) => services.launcher.relaunch(run, next) }),
        },
      )
        .then(async (outcome: ReconcileOutcome) => {
          const run = await services.persistence.runs.get(runId);
          if (!run) return;
          // A parent that ended, however it ended, leaves no child runs of its isolated maps.
          const orphans = await cancelOrphanedChildren(runId, {
            runs: services.persistence.runs,
            cancel: (child, reason) =>
              services.launcher.cancelRun(child.run_id, { orgId: child.org_id, reason }),
          });
          if (orphans.length > 0) {
            log(`run ${runId} ended: cancelled ${orphans.length} of its child runs`);
          }
          const took =
            run.started_at && run.completed_at
              ? ` in ${((Date.parse(run.completed_at) - Date.parse(run.started_at)) / 1000).toFixed(2)} s`
              : "";
          const why =
            outcome.action === "failed" || outcome.action === "cancelled" || run.error_message
              ? `: ${run.error_message ?? ""}`
              : "";
          log(`run ${runId} ${run.flow_name} ${run.flow_version} ${run.status}${took}${why}`);
        })
        .catch((error: unknown) => {
          log(`error: could not reconcile run ${runId}: ${(error as Error).message}`);
        });
      pending.add(work);
      void work.finally(() => pending.delete(work));
    };

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
