/**
 * The worker's run host: everything one worker process does for its one run, between reading
 * the configuration (worker/main.ts) and exiting.
 *
 *   1. claim: read the run; QUEUED -> RUNNING with a conditional write. A run that is not
 *      QUEUED (terminal, cancelled, or claimed by another worker) is not run.
 *   2. prepare: fetch the artifact and verify its sha256, load spilled parameters, install
 *      dependency packages, load the flow.
 *   3. execute: the shared executor runs the DAG; events become JSON log lines (stdout, and the
 *      run's CloudWatch Logs stream) and batched task states in the run record.
 *   4. record: SUCCEEDED, or FAILED with error_message and traceback_uri (traceback object in
 *      the traces bucket), or CANCELLED. Every status write is conditional on RUNNING.
 *
 * `stop()` (SIGTERM) aborts the tasks through their signals and ends the run CANCELLED when a
 * cancel was requested. Otherwise the infrastructure stopped the task (a Spot reclaim, a
 * StopTask): the worker saves what it has (task states and outputs), leaves the run RUNNING
 * and exits `interrupted`; reconciliation, which sees why ECS stopped the task, relaunches the
 * run or ends it. `crash()` (an uncaught error in the process) ends it FAILED.
 *
 * Succeeded tasks' outputs are kept (./task-outputs); a run that already has some (a relaunched
 * attempt, a re-run from the failure) does not execute those tasks again.
 */
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { evaluateArtifact, openArtifact } from "../artifact/artifact";
import { ArtifactError, DagyError } from "../errors";
import {
  createJsonLogger,
  createRedactor,
  stdoutLines,
  type JsonLogger,
  type Redact,
} from "../log";
import type { RunRecord } from "../persistence/records";
import { MAX_ENTRIES_WITH_TRANSITION } from "../persistence/transition-options";
import { RunCancelledError, runDag } from "../sdk";
import type { ExecutorEvent, RunResult } from "../sdk/types";
import { sha256Hex } from "../hash";
import { parseS3Uri } from "../storage/s3-uri";
import type { WorkerConfig } from "./config";
import { installDepPackages } from "./dep-packages";
import { CloudWatchLogShipper } from "./log-shipper";
import {
  isolatedMapRunner,
  mapChildDag,
  noteInProcessIsolatedMaps,
  writeChildOutputs,
  type MapChild,
} from "./map-child";
import { NotRunnable, claimRun } from "./run-claim";
import { finishRun, uploadTraceback, type ClosingRecords, type FinalStatus } from "./run-finish";
import { completedTasks, loadParameters } from "./run-inputs";
import {
  EXIT_CODES,
  MAX_ERROR_MESSAGE,
  SIGTERM_REASON,
  message,
  type ExitCode,
  type WorkerOutcome,
} from "./run-outcome";
import { TaskOutputKeeper } from "./task-outputs";
import { TaskStateRecorder } from "./task-states";
import { describeError, taskFailureFromEvent, type TaskFailureRecord } from "./traceback";
import type { WorkerDeps } from "./worker-deps";

export {
  EXIT_CODES,
  SIGTERM_REASON,
  recordStartFailure,
  type ExitCode,
  type StartMode,
  type WorkerOutcome,
  type WorkerRunStore,
} from "./run-outcome";
export type { WorkerDeps } from "./worker-deps";

/** Failures of mapped tasks' items kept for the traceback (the rest are in the logs). */
const MAX_ITEM_FAILURES = 100;

type Interruption =
  | { readonly kind: "stop"; readonly reason: string }
  | { readonly kind: "crash"; readonly error: unknown };

/** Interrupted while preparing: the interruption decides the outcome. */
class Interrupted extends Error {}

export class WorkerHost {
  private readonly abort = new AbortController();
  private interruption: Interruption | undefined;
  private onInterrupt: (() => void) | undefined;
  private readonly redact: Redact;
  private readonly logger: JsonLogger;
  private readonly shipper: CloudWatchLogShipper | undefined;
  private readonly recorder: TaskStateRecorder;
  private readonly outputs: TaskOutputKeeper;
  private readonly failures: TaskFailureRecord[] = [];
  private itemFailures = 0;
  private readonly marks: Record<string, number> = {};
  private claimed = false;
  /** The record as claimed (ALL_NEW of QUEUED -> RUNNING): parameters may live there. */
  private claimedRun: RunRecord | undefined;
  private mapChild: MapChild | undefined;
  /** Task states and outputs the final status write carries (see unwrittenRecords). */
  private closing: ClosingRecords | undefined;

  constructor(
    private readonly config: WorkerConfig,
    private readonly deps: WorkerDeps,
  ) {
    this.redact = createRedactor(config.secretValues);
    const stdout = deps.stdout ?? stdoutLines;
    if (config.logShipping && config.logGroup !== undefined && deps.logs !== undefined) {
      this.shipper = new CloudWatchLogShipper({
        client: deps.logs,
        logGroupName: config.logGroup,
        logStreamName: config.runId,
        ...(deps.shipIntervalMs !== undefined ? { flushIntervalMs: deps.shipIntervalMs } : {}),
        // Shipping problems go to stdout only (awslogs still carries them).
        onError: (text, error) =>
          createJsonLogger({ run_id: config.runId }, stdout, {
            redact: config.secretValues,
          }).warn(`log shipping: ${text}`, {
            event_type: "log_shipping_failed",
            ...(error !== undefined ? { error: message(error) } : {}),
          }),
      });
    }
    const shipper = this.shipper;
    this.logger = createJsonLogger(
      {
        run_id: config.runId,
        org_id: config.orgId,
        flow_name: config.flowName,
        flow_version: config.flowVersion,
        correlation_id: config.correlationId,
      },
      (line) => {
        stdout(line);
        shipper?.add(line);
      },
      { redact: config.secretValues },
    );
    this.recorder = new TaskStateRecorder({
      runId: config.runId,
      sink: deps.runs,
      redact: this.redact,
      ...(deps.flushIntervalMs !== undefined ? { flushIntervalMs: deps.flushIntervalMs } : {}),
      onError: (text, error) =>
        this.logger.warn(text, { event_type: "task_states_write_failed", error: message(error) }),
    });
    this.outputs = new TaskOutputKeeper({
      runId: config.runId,
      orgId: config.orgId,
      // Large outputs sit beside the artifact, under the run's prefix.
      bucket: parseS3Uri(config.artifactUri).bucket,
      sink: deps.runs,
      store: deps.store,
      redact: this.redact,
      ...(deps.flushIntervalMs !== undefined ? { flushIntervalMs: deps.flushIntervalMs } : {}),
      onError: (text, error) =>
        this.logger.warn(text, { event_type: "task_outputs_write_failed", error: message(error) }),
    });
  }

  /**
   * SIGTERM: abort the tasks; the run ends CANCELLED if a cancel was requested, else it is left
   * for reconciliation (relaunch or end).
   */
  stop(reason: string = SIGTERM_REASON): void {
    this.interrupt({ kind: "stop", reason });
  }

  /** An uncaught error in the process: abort the tasks and record the run FAILED with it. */
  crash(error: unknown): void {
    this.interrupt({ kind: "crash", error });
  }

  /** Logs (redacted) a promise rejection nobody handled; the run goes on. */
  reportUnhandledRejection(reason: unknown): void {
    this.logger.warn("unhandled promise rejection in flow code", {
      event_type: "unhandled_rejection",
      error: message(reason),
    });
  }

  /** True once stop() or crash() was called. */
  get interrupted(): boolean {
    return this.interruption !== undefined;
  }

  private interrupt(interruption: Interruption): void {
    if (this.interruption) return;
    this.interruption = interruption;
    this.logger.warn(
      interruption.kind === "stop" ? interruption.reason : "uncaught error in the worker",
      {
        event_type: interruption.kind === "stop" ? "worker_stopping" : "worker_crashed",
        ...(interruption.kind === "crash" ? { error: message(interruption.error) } : {}),
      },
    );
    this.abort.abort(
      new RunCancelledError(
        interruption.kind === "stop" ? interruption.reason : "the worker hit an uncaught error",
      ),
    );
    this.onInterrupt?.();
  }

  private mark(name: string): void {
    this.marks[name] = Math.round(performance.now() * 10) / 10;
  }

  /** Runs the run to an outcome. Never rejects. */
  async run(): Promise<WorkerOutcome> {
    this.mark("main");
    if (this.deps.mainStartedAt !== undefined) this.marks.main = this.deps.mainStartedAt;
    this.shipper?.start();
    const workDir = path.join(this.deps.tempDir ?? tmpdir(), `dagy-run-${this.config.runId}`);
    let outcome: WorkerOutcome;
    try {
      outcome = await this.execute(workDir);
    } catch (error) {
      outcome = await this.recordWorkerError(error);
    } finally {
      await this.recorder.close();
      await this.outputs.close();
    }
    if (this.config.emitTimings) {
      this.logger.info("worker timings (ms since process start)", {
        event_type: "worker_timings",
        ...this.marks,
      });
    }
    this.logger.info(`worker exiting with code ${outcome.exitCode}`, {
      event_type: "worker_exited",
      exit_code: outcome.exitCode,
      ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    });
    await this.shipper?.close();
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    return outcome;
  }

  private async execute(workDir: string): Promise<WorkerOutcome> {
    const { config, deps } = this;
    const preloaded =
      deps.preloaded?.uri === config.artifactUri &&
      deps.preloaded.sha256 === config.artifactSha256.toLowerCase()
        ? deps.preloaded
        : undefined;
    this.logger.info("worker started", {
      event_type: "worker_started",
      environment: config.environment,
      artifact_uri: config.artifactUri,
      dep_packages: config.depPackageUris.length,
      ...(deps.preloaded !== undefined ? { artifact_preloaded: preloaded !== undefined } : {}),
    });

    // The download overlaps the claim: both are on the critical path to the first task.
    const artifact = (
      preloaded !== undefined
        ? Promise.resolve(preloaded.bytes)
        : deps.store.get(config.artifactUri)
    ).then((bytes) => {
      this.mark("artifact_fetched");
      return bytes;
    });
    artifact.catch(() => undefined); // observed below; never an unhandled rejection

    try {
      await this.claim();
    } catch (error) {
      if (error instanceof NotRunnable) return error.outcome;
      throw error;
    }

    let result: RunResult;
    try {
      const bytes = await this.untilInterrupted(artifact);
      // A preloaded artifact was verified against this very hash when it was fetched.
      const actual = preloaded?.sha256 ?? sha256Hex(bytes);
      if (actual !== config.artifactSha256) {
        throw new ArtifactError(
          `artifact checksum mismatch: ${config.artifactUri} has sha256 ${actual}, ` +
            `the registered flow expects ${config.artifactSha256}`,
        );
      }
      const parameters = await this.untilInterrupted(
        loadParameters(config, deps.store, this.claimedRun, () => this.mark("parameters_loaded")),
      );
      let nodePaths: readonly string[] = [];
      if (config.depPackageUris.length > 0) {
        await mkdir(workDir, { recursive: true });
        const installed = await this.untilInterrupted(
          installDepPackages({
            uris: config.depPackageUris,
            store: deps.store,
            workDir,
            ...(deps.npmInstall !== undefined ? { npmInstall: deps.npmInstall } : {}),
            onProgress: (text, fields) =>
              this.logger.info(text, { event_type: "dep_package", ...fields }),
          }),
        );
        nodePaths = installed.nodePaths;
        this.mark("dep_packages_installed");
      }
      const loaded = evaluateArtifact(preloaded?.opened ?? openArtifact(bytes), {
        extraNodePaths: nodePaths,
      });
      this.mark("flow_loaded");
      if (this.interruption) throw new Interrupted();

      if (config.mapTask !== undefined) {
        this.mapChild = await this.untilInterrupted(mapChildDag(loaded.dag, config, deps.store));
      }
      const isolatedMap = isolatedMapRunner(config, deps, this.logger, parameters);
      if (isolatedMap === undefined && this.mapChild === undefined) {
        noteInProcessIsolatedMaps(loaded.dag, this.logger);
      }
      // A child run resumes nothing: its one task is its whole work.
      const completed =
        this.mapChild === undefined
          ? await this.untilInterrupted(completedTasks(this.claimedRun, deps.store, this.logger))
          : {};
      this.recorder.start();
      this.outputs.start();
      result = await runDag(this.mapChild?.dag ?? loaded.dag, {
        runId: config.runId,
        parameters,
        ...(config.maxParallelism !== undefined ? { maxParallelism: config.maxParallelism } : {}),
        signal: this.abort.signal,
        onEvent: (event) => this.onEvent(event),
        onTaskOutput: (taskId, output) => this.outputs.keep(taskId, output),
        ...(Object.keys(completed).length > 0 ? { completed } : {}),
        exposeParametersAsEnv: true,
        ...(isolatedMap !== undefined ? { isolatedMap } : {}),
      });
      if (this.mapChild !== undefined && result.status === "SUCCEEDED") {
        result = await writeChildOutputs(this.mapChild, result, config, deps.store);
      }
    } catch (error) {
      if (error instanceof Interrupted || this.interruption) return this.recordInterruption();
      throw error;
    }

    // Tasks taken over from an earlier attempt keep the states they were recorded with.
    const recorded = this.claimedRun?.task_states ?? {};
    const tasks = { ...result.tasks };
    for (const id of Object.keys(tasks)) {
      if (tasks[id]?.attempts === 0 && tasks[id]?.status === "SUCCEEDED" && recorded[id]) {
        tasks[id] = recorded[id];
      }
    }
    this.recorder.applyResult({ tasks });
    // Outputs are on record before the status (a re-run from the failure reads them): few of
    // them ride in the status write itself (one round trip, not three); more are written first.
    this.closing = await this.unwrittenRecords();
    if (this.closing === undefined) {
      await Promise.all([this.recorder.flush(), this.outputs.flush()]);
    }
    if (this.interruption) return this.recordInterruption();
    return this.recordResult(result);
  }

  /** QUEUED -> RUNNING, conditionally. Throws NotRunnable for a run this worker must leave alone. */
  private async claim(): Promise<void> {
    const { config, deps } = this;
    this.claimedWith(
      await claimRun(
        { config, runs: deps.runs, task: deps.task, logger: this.logger },
        deps.claimStarted,
      ),
    );
  }

  private claimedWith(run: RunRecord): void {
    this.claimed = true;
    this.claimedRun = run;
    this.mark("run_claimed");
    this.deps.onClaimed?.();
  }

  /** True once this worker moved the run QUEUED -> RUNNING (it is this worker's run). */
  hasClaimed(): boolean {
    return this.claimed;
  }

  /** Awaits `promise`, or throws Interrupted as soon as the worker is stopped. */
  private untilInterrupted<T>(promise: Promise<T>): Promise<T> {
    if (this.interruption) return Promise.reject(new Interrupted());
    return new Promise<T>((resolve, reject) => {
      this.onInterrupt = () => reject(new Interrupted());
      promise.then(resolve, reject).finally(() => {
        this.onInterrupt = undefined;
      });
    });
  }

  private onEvent(event: ExecutorEvent): void {
    const child = this.mapChild;
    if (
      child !== undefined &&
      event.event_type === "task_failed" &&
      event.map_index !== undefined
    ) {
      child.errors[String(child.first + event.map_index)] = event.error ?? "failed";
    }
    if (event.event_type === "task_started" && this.marks.first_task_started === undefined) {
      this.mark("first_task_started");
    }
    this.logger.event({ ...event });
    this.recorder.apply(event);
    const failure = taskFailureFromEvent(event);
    // Items of a mapped task may fail by the thousand: the traceback keeps the first ones.
    if (failure && (event.map_task === undefined || this.itemFailures++ < MAX_ITEM_FAILURES)) {
      this.failures.push(failure);
    }
  }

  private async recordResult(result: RunResult): Promise<WorkerOutcome> {
    if (result.status === "SUCCEEDED") {
      return this.finish("SUCCEEDED", EXIT_CODES.succeeded, {});
    }
    if (result.status === "CANCELLED") {
      // Only our own signal cancels the executor; treat it as an interruption.
      return this.recordInterruption();
    }
    const failed = result.failedTask;
    const attempts = failed !== undefined ? result.tasks[failed]?.attempts : undefined;
    const cause = result.error?.message ?? "unknown error";
    const summary =
      failed !== undefined
        ? `Task ${failed} failed${attempts !== undefined ? ` after ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""}: ${cause}`
        : cause;
    return this.fail(summary, EXIT_CODES.flowFailed, result.error);
  }

  private async recordInterruption(): Promise<WorkerOutcome> {
    const interruption = this.interruption;
    if (interruption?.kind === "crash") {
      return this.fail(
        `Worker crashed: ${message(interruption.error)}`,
        EXIT_CODES.workerError,
        interruption.error,
      );
    }
    const reason = interruption?.reason ?? SIGTERM_REASON;
    let cancelRequested = false;
    try {
      cancelRequested = (await this.deps.runs.get(this.config.runId))?.cancel_requested === true;
    } catch (error) {
      this.logger.warn("could not read cancel_requested", {
        event_type: "worker_error",
        error: message(error),
      });
    }
    if (cancelRequested) {
      return this.finish("CANCELLED", EXIT_CODES.cancelled, { error_message: "Run cancelled" });
    }
    // The infrastructure stopped us: save what we have; reconciliation decides what comes next.
    await this.recorder.flush();
    await this.outputs.flush();
    this.logger.warn(`${reason}; the run is left for reconciliation to relaunch or end`, {
      event_type: "run_interrupted",
    });
    return { exitCode: EXIT_CODES.interrupted, status: "RUNNING", errorMessage: reason };
  }

  /** A failure before or around the executor: FAILED with the reason when the run was claimed. */
  private async recordWorkerError(error: unknown): Promise<WorkerOutcome> {
    const text = error instanceof DagyError ? error.message : `Worker error: ${message(error)}`;
    this.logger.error(this.redact(text), {
      event_type: "worker_error",
      error_type: error instanceof Error ? error.name : typeof error,
      stack: error instanceof Error ? error.stack : undefined,
    });
    if (!this.claimed) return { exitCode: EXIT_CODES.workerError, errorMessage: this.redact(text) };
    try {
      return await this.fail(text, EXIT_CODES.workerError, error);
    } catch (writeError) {
      this.logger.error("could not record the run as FAILED", {
        event_type: "worker_error",
        error: message(writeError),
      });
      return { exitCode: EXIT_CODES.workerError, errorMessage: this.redact(text) };
    }
  }

  private async fail(summary: string, exitCode: ExitCode, cause: unknown): Promise<WorkerOutcome> {
    const errorMessage = this.truncate(this.redact(summary));
    const fields: Partial<RunRecord> = { error_message: errorMessage };
    const uri = await uploadTraceback(
      { config: this.config, store: this.deps.store, logger: this.logger, redact: this.redact },
      errorMessage,
      exitCode,
      cause,
      this.failures,
    );
    if (uri !== undefined) fields.traceback_uri = uri;
    this.logger.error(errorMessage, { event_type: "run_failed_recorded" });
    return this.finish("FAILED", exitCode, fields);
  }

  /** RUNNING -> status, conditionally, retrying transient errors a few times. */
  private async finish(
    status: FinalStatus,
    exitCode: ExitCode,
    fields: Partial<RunRecord>,
  ): Promise<WorkerOutcome> {
    const closing = this.closing;
    this.closing = undefined;
    return finishRun(
      {
        runs: this.deps.runs,
        runId: this.config.runId,
        logger: this.logger,
        recorder: this.recorder,
        outputs: this.outputs,
        onRecorded: () => this.mark("run_recorded"),
      },
      status,
      exitCode,
      fields,
      closing,
    );
  }

  /**
   * The task states and outputs not yet on record, when few enough to ride in the final status
   * write; undefined when they are written apart first.
   */
  private async unwrittenRecords(): Promise<ClosingRecords | undefined> {
    const [states, outputs] = await Promise.all([
      this.recorder.unwritten(),
      this.outputs.unwritten(),
    ]);
    const count = Object.keys(states).length + Object.keys(outputs).length;
    if (count > MAX_ENTRIES_WITH_TRANSITION) return undefined;
    return {
      taskStates: states,
      taskOutputs: {
        entries: outputs,
        // No map yet (none claimed, none written by this worker): the write creates it.
        createMap: this.claimedRun?.task_outputs === undefined && !this.outputs.hasWritten,
      },
    };
  }

  private truncate(text: string): string {
    return text.length > MAX_ERROR_MESSAGE
      ? `${text.slice(0, MAX_ERROR_MESSAGE)}…[truncated]`
      : text;
  }
}

export { describeError };
