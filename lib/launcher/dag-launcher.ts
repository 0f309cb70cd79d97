/**
 * DagLauncher: validates a launch request, records the run and starts one worker for it.
 *
 * Order of work in `launch()`, cheapest and side-effect-free first, so bad input writes
 * nothing: validate the request (no I/O) -> resolve the flow version (1 read) -> check the
 * parameters against the flow's declarations -> resolve the deployment's packages (reads) ->
 * build the worker environment and place the parameters (./parameter-placement) -> claim the
 * idempotency key with the request's hash -> write the run QUEUED -> (spill very large
 * parameters to S3) -> submit -> record the task ARN.
 *
 * Outcomes:
 * - Malformed request, bad parameters, overrides that cannot fit: InvalidLaunchRequestError is
 *   thrown and nothing is written.
 * - An Idempotency-Key already used for a different request: ConflictError naming the key.
 * - Unknown flow or deployment, a package the org may not use: `success: false` with the
 *   reason and `errorCode`, no run written (there is nothing to attach a run to; `runId` "").
 * - The backend could not start the worker (ECS refused, no capacity after retries): the run
 *   exists and is FAILED with the reason; `success: false`.
 */
import { randomUUID } from "node:crypto";
import { WORKER_CONTAINER_NAME } from "../config/worker-container";
import { errorCode, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import { createJsonLogger, stderrLines, type JsonLogger } from "../log";
import { Persistence } from "../persistence/persistence";
import type { FlowRecord, RunRecord } from "../persistence/records";
import type { TableNames } from "../persistence/schema";
import { emfLine, RUN_METRICS, type MetricSink } from "../metrics";
import type { Json } from "../sdk/types";
import type { ObjectStore } from "../storage/object-store";
import {
  launchBatch,
  type BatchLaunchCommon,
  type BatchLaunchOptions,
  type BatchLaunchRequest,
} from "./batch-launch";
import { errorMessage } from "./errors";
import { resolveResources } from "./fargate";
import {
  DEFAULT_TABLES,
  type CancelRunOptions,
  type DagLauncherDeps,
  type DagLauncherOptions,
  type LauncherPersistence,
} from "./launcher-options";
import {
  assertLauncherOptions,
  createComputeBackend,
  createDocClient,
  launcherOptionsFromEnv,
  type OwnedResources,
} from "./launcher-setup";
import { cancelRun } from "./cancel-run";
import { checkLaunchParameters } from "./parameter-placement";
import { parseLaunchRequest } from "./request";
import {
  attemptRecord,
  relaunchSpec,
  rerunRequest,
  rerunSeed,
  type AttemptResources,
} from "./attempts";
import { LaunchIdempotency } from "./launch-idempotency";
import type { ComputeBackend, DagLaunchRequest, DagLaunchResult, SubmitResult } from "./types";
import type { TaskOverridesOptions } from "./worker-spec";
import { startRun, stopQuietly, type LaunchOptions, type StartRunDeps } from "./start-run";

export type {
  ComputeBackendKind,
  CancelRunOptions,
  DagLauncherDeps,
  DagLauncherOptions,
  LauncherPersistence,
  LocalComputeBackend,
} from "./launcher-options";
export type { BatchLaunchCommon, BatchLaunchRequest } from "./batch-launch";
export { RUN_RECORD_PARAMETERS_MAX_BYTES } from "./parameter-placement";
export type { AttemptResources } from "./attempts";
/** How one launch is submitted (a batch's deadline) and whether it re-runs another run. */
export type { LaunchOptions } from "./start-run";

type Env = Readonly<Record<string, string | undefined>>;

export class DagLauncher {
  private readonly persistence: LauncherPersistence;
  private readonly store: Pick<ObjectStore, "put"> | undefined;
  private readonly backend: ComputeBackend;
  private readonly clock: () => Date;
  private readonly newId: () => string;
  private readonly logger: Pick<JsonLogger, "info" | "warn">;
  private readonly metrics: MetricSink | undefined;
  private readonly tables: TableNames;
  /** Measured against the overrides EcsBackend sends, whichever backend runs the worker. */
  private readonly overrides: TaskOverridesOptions;
  /** What this launcher created, and so closes. */
  private readonly owned: OwnedResources = {};
  private readonly keys: LaunchIdempotency;
  /** The write phase's view of this launcher (./start-run). */
  private readonly startDeps: StartRunDeps;

  /**
   * Reads the guide's variables (LAUNCHER_ENV) and Dagy's (PLATFORM_ENV). Every missing
   * required variable is listed in one ConfigurationError.
   */
  static fromEnv(env: Env = process.env, deps: DagLauncherDeps = {}): DagLauncher {
    return new DagLauncher(launcherOptionsFromEnv(env), deps);
  }

  constructor(
    readonly options: DagLauncherOptions,
    deps: DagLauncherDeps = {},
  ) {
    assertLauncherOptions(options, deps);
    this.tables = options.tables ?? DEFAULT_TABLES;
    const containerName = options.containerName ?? WORKER_CONTAINER_NAME;
    this.overrides = {
      containerName,
      ...(options.taskRoleArn !== undefined ? { taskRoleArn: options.taskRoleArn } : {}),
      ...(options.taskExecutionRoleArn !== undefined
        ? { executionRoleArn: options.taskExecutionRoleArn }
        : {}),
    };
    this.clock = deps.now ?? deps.clock ?? (() => new Date());
    this.newId = deps.idGenerator ?? randomUUID;
    this.logger = deps.logger ?? createJsonLogger({ component: "launcher" }, stderrLines);
    this.metrics = deps.metrics;
    this.persistence =
      deps.persistence ??
      new Persistence(deps.clients?.doc ?? createDocClient(options, this.owned), this.tables, {
        now: this.clock,
      });
    this.keys = new LaunchIdempotency(this.persistence, this.logger);
    this.store = deps.store;
    this.backend =
      deps.backend ??
      createComputeBackend(
        options.computeBackend ?? "ecs",
        options,
        containerName,
        deps,
        this.owned,
      );
    this.startDeps = {
      options,
      persistence: this.persistence,
      store: this.store,
      backend: this.backend,
      clock: this.clock,
      newId: this.newId,
      logger: this.logger,
      tables: this.tables,
      overrides: this.overrides,
      keys: this.keys,
    };
  }

  /** Releases what the launcher created (clients, a local backend's workers). */
  async close(): Promise<void> {
    await this.owned.local?.close();
    this.owned.doc?.destroy();
    this.owned.dynamodb?.destroy();
    this.owned.ecs?.destroy();
  }

  /**
   * Launches one run. Throws InvalidLaunchRequestError for bad input (nothing written) and
   * ConflictError for an idempotency key used with another request; returns `success: false`
   * for unknown flows/deployments (nothing written) and for a worker that could not be
   * started (run FAILED).
   */
  async launch(input: DagLaunchRequest, options: LaunchOptions = {}): Promise<DagLaunchResult> {
    const startedAt = Date.now();
    const request = parseLaunchRequest(input);
    // The stack's task definition is sized by the environment's profile (DAGY_ECS_TASK_DEFINITION
    // with DAGY_DEFAULT_WORKLOAD_PROFILE): a launch naming no size sends none and gets that.
    const resources = resolveResources(
      request,
      this.options.defaultWorkloadProfile ?? "medium",
      this.options.taskDefinition !== undefined &&
        this.options.defaultWorkloadProfile !== undefined,
    );
    const metadata = request.metadata ?? {};
    const notLaunched = (error: unknown): DagLaunchResult => ({
      success: false,
      runId: "",
      flowName: request.flowName,
      correlationId: request.correlationId ?? "",
      errorMessage: errorMessage(error),
      errorCode: errorCode(error),
      metadata,
    });

    // Reads: the flow version, then the deployment's packages.
    let flow: FlowRecord;
    try {
      flow = await this.persistence.flows.resolve(
        request.orgId,
        request.flowName,
        request.flowVersion ?? "latest",
      );
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof ForbiddenError)
        return notLaunched(error);
      throw error;
    }
    const parameters = checkLaunchParameters(flow, request.parameters ?? {});
    let depPackageUris: string[] = [];
    if (request.deploymentName) {
      try {
        depPackageUris = await this.persistence.deployments.resolvePackageUris(
          request.orgId,
          request.deploymentName,
        );
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof ForbiddenError)
          return notLaunched(error);
        throw error;
      }
    }
    const result = await startRun(
      this.startDeps,
      request,
      flow,
      parameters,
      depPackageUris,
      resources,
      options,
    );
    if (result.success && this.metrics) {
      this.metrics(
        emfLine(
          [
            { name: RUN_METRICS.launched, value: 1, unit: "Count" },
            {
              name: RUN_METRICS.launchLatency,
              value: Date.now() - startedAt,
              unit: "Milliseconds",
            },
          ],
          request.environment ?? "",
          { run_id: result.runId, flow_name: result.flowName },
        ),
      );
    }
    return result;
  }

  /**
   * Starts the next attempt of an active run whose last task the infrastructure stopped
   * (reconciliation decided so and put the run back in the queue): the same worker environment,
   * with the resources given. Throws when the backend cannot start it; the caller ends the run.
   */
  async relaunch(run: RunRecord, next: AttemptResources): Promise<SubmitResult> {
    const attempt = (run.attempts?.length ?? 0) + 1;
    const spec = relaunchSpec(run, next, attempt, {
      runsTable: this.tables.runs,
      tracesBucket: this.options.tracesBucket ?? "",
      ...(this.options.logGroup !== undefined ? { logGroup: this.options.logGroup } : {}),
      ...(this.options.region !== undefined ? { region: this.options.region } : {}),
    });
    const submitted = await this.backend.submit(spec);
    const recorded = await this.persistence.runs.recordAttempt(
      run.run_id,
      attemptRecord(submitted.taskArn, attempt, next, this.clock(), submitted.startMode),
      attempt - 1,
      { log_stream: submitted.logStream ?? run.log_stream ?? run.run_id },
    );
    if (!recorded || recorded.status === "CANCELLED") {
      // Cancelled (or relaunched by someone else) while we were submitting: stop ours.
      await stopQuietly(
        this.startDeps,
        submitted.taskArn,
        "run cancelled while relaunching",
        run.run_id,
      );
    }
    return submitted;
  }

  /**
   * A new run of the same flow version and parameters as `source` (`rerun_of` links it back,
   * the source's `reruns` forward). From `failure`, the source's succeeded tasks keep their
   * stored outputs and are not executed again.
   */
  async rerun(
    source: RunRecord,
    from: "start" | "failure",
    overrides: Pick<DagLaunchRequest, "triggerSource" | "triggeredBy"> = {},
  ): Promise<DagLaunchResult> {
    let parameters = source.parameters;
    if (parameters === undefined && source.parameters_uri !== undefined) {
      const store = this.store as Partial<Pick<ObjectStore, "get">> | undefined;
      if (!store?.get) {
        throw new ValidationError(
          `run ${source.run_id} keeps its parameters in S3, which this launcher cannot read`,
        );
      }
      parameters = JSON.parse((await store.get(source.parameters_uri)).toString("utf8")) as Record<
        string,
        Json
      >;
    }
    const request = rerunRequest(source, parameters ?? {}, overrides);
    const seed = rerunSeed(source, from);
    const result = await this.launch(request, { rerun: seed });
    if (result.runId) await this.persistence.runs.addRerun(source.run_id, result.runId);
    return result;
  }

  /** Launches many runs with bounded concurrency; see ./batch-launch. */
  async launchBatch(
    requests: readonly BatchLaunchRequest[],
    common: BatchLaunchCommon,
    options: BatchLaunchOptions = {},
  ): Promise<DagLaunchResult[]> {
    return launchBatch((request, submit) => this.launch(request, submit), requests, common, {
      ...options,
      newId: this.newId,
    });
  }

  /**
   * The run record, or undefined when there is no such run — or when `orgId` is given and the
   * run belongs to another org (never reveal another tenant's run).
   */
  async getRunStatus(
    runId: string,
    opts: { readonly orgId?: string } = {},
  ): Promise<RunRecord | undefined> {
    let run: RunRecord | undefined;
    try {
      run = await this.persistence.runs.get(runId);
    } catch (error) {
      if (error instanceof ValidationError) return undefined; // not a run id at all
      throw error;
    }
    if (!run) return undefined;
    if (opts.orgId !== undefined && run.org_id !== opts.orgId) return undefined;
    return run;
  }

  /**
   * Cancels a run. QUEUED: CANCELLED at once (conditional on still being QUEUED) and its task,
   * if any, stopped. RUNNING: `cancel_requested` set and the task stopped; the worker records
   * CANCELLED on SIGTERM, and reconciliation does if the worker cannot. A terminal run is a
   * ConflictError; an unknown run, or another org's, a RunNotFoundError.
   */
  async cancelRun(runId: string, opts: CancelRunOptions = {}): Promise<RunRecord> {
    return cancelRun(
      {
        runs: this.persistence.runs,
        stop: (taskArn, reason) => this.backend.stop(taskArn, reason),
        stopQuietly: (taskArn, reason) => stopQuietly(this.startDeps, taskArn, reason, runId),
      },
      await this.getRunStatus(runId, opts),
      runId,
      opts.reason,
    );
  }
}
