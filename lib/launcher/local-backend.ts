/**
 * Runs the worker entry point as a child process: the embedded default's compute. The child
 * gets exactly the environment an ECS container would (the spec's), plus the local endpoints,
 * dummy credentials for the local servers, and the run's secrets resolved from a local JSON
 * file (`{"<secret ARN>": "<value>"}`) — the local equivalent of ECS secret injection.
 *
 * At most `maxConcurrent` workers run at once; further submissions queue, and `submit` still
 * returns at once with `local:<runId>` (the run stays QUEUED until its worker starts).
 *
 * `place` decides before the run is written: a slot and, when one is idle, a warm worker are
 * held for the run until the launcher starts it (or gives them back), so the run's QUEUED write
 * already names its task and how it starts.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { WARM_ENV, WORKER_ENV } from "../config/env";
import { WORKER_EXTRA_ENV } from "../worker/config";
import { TaskSubmissionError } from "./errors";
import type { LocalBackendOptions } from "./local-backend-options";
import { resolveLocalSecrets, withHeapLimit, workerBaseEnv } from "./local-worker-env";
import type { Job } from "./local-job";
import type { RunRecord } from "../persistence/records";
import { LocalWarmPool, type WarmWorker, type WorkerSize } from "./local-warm-pool";
import {
  REPO_ROOT,
  defaultWorkerCommand,
  endLog,
  followWarmWorker,
  followWorker,
  localTaskArn,
  neverStarted,
  nulVariable,
  openWorkerLog,
  runIdOfLocalTask,
  spawnWorker,
  startFailure,
  terminateWorker,
  type RunningWorker,
  type WorkerEndHooks,
} from "./local-worker-process";
import {
  WORKLOAD_PROFILES,
  type ComputeBackend,
  type Placement,
  type SubmitResult,
  type WorkerLaunchSpec,
} from "./types";

export { heapLimitMib } from "./local-worker-env";
export type { LocalBackendOptions } from "./local-backend-options";
export {
  LOCAL_TASK_ARN_PREFIX,
  defaultWorkerCommand,
  localTaskArn,
  runIdOfLocalTask,
  type LocalWorkerExit,
} from "./local-worker-process";

export class LocalBackend implements ComputeBackend {
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, RunningWorker>();
  /** Placed and not yet started: each holds a slot (and perhaps a warm worker). */
  private readonly placed = new Map<string, Job>();
  private readonly command: readonly string[];
  private readonly maxConcurrent: number;
  private readonly graceMs: number;
  private closed = false;
  private apiUrl: string | undefined;
  private readonly pool: LocalWarmPool | undefined;

  constructor(private readonly options: LocalBackendOptions) {
    this.apiUrl = options.apiUrl;
    this.command = options.workerCommand ?? defaultWorkerCommand();
    if (this.command.length === 0) throw new TaskSubmissionError("workerCommand must not be empty");
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 4);
    this.graceMs = options.stopGraceMs ?? 10_000;
    // Logs hold what runs print: readable by this user only.
    mkdirSync(options.logDir, { recursive: true, mode: 0o700 });
    const warm = options.warm ?? 0;
    if (warm > 0) {
      this.pool = new LocalWarmPool({
        size: warm,
        sizes: options.warmSizes ?? [WORKLOAD_PROFILES.medium],
        spawn: (size) => this.spawnWarm(size),
        onIdle: () => this.pump(),
        ...(options.log !== undefined ? { log: options.log } : {}),
      });
    }
  }

  /** Workers started from now on get DAGY_API_URL=`url`. */
  setApiUrl(url: string): void {
    this.apiUrl = url;
  }

  /** Path of a run's worker log. */
  logPath(runId: string): string {
    return join(this.options.logDir, `${runId}.log`);
  }

  /**
   * Runs started and not yet exited, runs waiting for a slot, warm workers waiting for a run
   * (and of those, how many are still preloading their hint), warm workers starting.
   */
  get stats(): {
    running: number;
    queued: number;
    idle: number;
    starting: number;
    preloading: number;
  } {
    return {
      running: this.running.size,
      queued: this.queue.length,
      ...(this.pool?.stats ?? { idle: 0, starting: 0, preloading: 0 }),
    };
  }

  /** Process ids of the warm workers waiting for a run (`dagy dev` diagnostics, tests). */
  idleWorkerPids(): number[] {
    return this.pool?.idlePids() ?? [];
  }

  async submit(spec: WorkerLaunchSpec): Promise<SubmitResult> {
    const placement = this.place(spec);
    await placement.start();
    const job = this.jobs.get(placement);
    // A job still queued gets its mode when a slot frees; its worker's claim records it then.
    return {
      taskArn: placement.taskArn,
      ...(placement.logStream !== undefined ? { logStream: placement.logStream } : {}),
      ...(job?.mode !== undefined ? { startMode: job.mode } : {}),
    };
  }

  /**
   * Decides where the run goes without starting it: a free slot is held for it, with an idle
   * warm worker of its size if there is one (`warm`), else for a new process (`cold`). With no
   * free slot (or runs already waiting) nothing is held: `start` queues it, and its mode is
   * settled when it leaves the queue (its worker's claim records it).
   */
  place(spec: WorkerLaunchSpec): Placement {
    if (this.closed) throw new TaskSubmissionError("the local backend is closed");
    // Resolve secrets now, so a missing one fails the launch rather than the worker.
    const secrets = resolveLocalSecrets(this.options.secretsFile, spec.secretsEnv);
    const taskArn = localTaskArn(spec.runId, spec.attempt);
    const env = this.workerEnv(
      { ...spec.environment, [WORKER_EXTRA_ENV.taskArn]: taskArn },
      spec.memory,
    );
    const job: Job = { spec, env, secrets, taskArn };
    if (this.queue.length === 0 && this.hasFreeSlot() && !this.placed.has(spec.runId)) {
      const worker = this.pool?.take({ cpu: spec.cpu, memory: spec.memory });
      job.mode = worker !== undefined ? "warm" : "cold";
      if (worker !== undefined) job.worker = worker;
      this.placed.set(spec.runId, job);
    }
    const placement: Placement = {
      taskArn,
      logStream: this.logPath(spec.runId),
      ...(job.mode !== undefined ? { startMode: job.mode } : {}),
      // The held warm worker takes this run alone, and only from start: it can be handed the
      // run claimed. A new process claims for itself (it may be slower to start than a cancel).
      ...(job.worker !== undefined ? { startsClaimed: true } : {}),
      start: async (claimed?: RunRecord) => {
        if (claimed !== undefined && job.worker !== undefined) job.claimed = claimed;
        this.startPlaced(job);
      },
      abandon: () => this.abandonPlaced(job),
    };
    this.jobs.set(placement, job);
    return placement;
  }

  /** Each placement's job (submit reads the mode a queued job got). */
  private readonly jobs = new WeakMap<Placement, Job>();

  private hasFreeSlot(): boolean {
    return this.running.size + this.placed.size < this.maxConcurrent;
  }

  private startPlaced(job: Job): void {
    const runId = job.spec.runId;
    if (job.abandoned === true) throw new TaskSubmissionError("the placement was given back");
    const held = this.placed.get(runId) === job;
    if (held) this.placed.delete(runId);
    if (this.closed) {
      if (job.worker !== undefined) this.pool?.release(job.worker);
      throw new TaskSubmissionError("the local backend is closed");
    }
    if (!held) {
      this.queue.push(job);
      this.pump();
      if (job.mode === undefined) job.backlog = true;
      return;
    }
    if (job.stopped === true) {
      // Cancelled between placement and start: reported as a queued job's stop is.
      if (job.worker !== undefined) this.pool?.release(job.worker);
      this.options.onExit?.(runId, neverStarted(job.taskArn));
      this.pump();
      return;
    }
    this.startJob(job, job.worker);
  }

  private abandonPlaced(job: Job): void {
    job.abandoned = true;
    if (this.placed.get(job.spec.runId) !== job) return;
    this.placed.delete(job.spec.runId);
    if (job.worker !== undefined) this.pool?.release(job.worker);
    this.pump();
  }

  /** The platform variables (see workerBaseEnv), then `vars`, with the heap limit for `memory`. */
  private workerEnv(vars: Record<string, string>, memory: string): Record<string, string> {
    const env = { ...workerBaseEnv(this.options, this.apiUrl), ...vars };
    return withHeapLimit(env, memory, this.options.enforceMemory);
  }

  /** A warm worker of a size: platform variables only, an IPC channel to receive its run. */
  private spawnWarm(size: WorkerSize): ChildProcess {
    const env = this.workerEnv({ [WARM_ENV.source]: "ipc" }, size.memory);
    return spawnWorker(this.command, this.options.cwd ?? REPO_ROOT, env, true);
  }

  async stop(taskArn: string, _reason: string): Promise<void> {
    const runId = runIdOfLocalTask(taskArn);
    const placed = this.placed.get(runId);
    if (placed !== undefined) {
      placed.stopped = true;
      return;
    }
    const queued = this.queue.findIndex((job) => job.spec.runId === runId);
    if (queued !== -1) {
      const [job] = this.queue.splice(queued, 1);
      this.options.onExit?.(runId, neverStarted(job?.taskArn ?? taskArn));
      return;
    }
    const running = this.running.get(runId);
    if (!running) return; // exited already
    terminateWorker(running, this.graceMs);
  }

  /** Stops every worker (queued ones never start) and waits until all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.placed.values()) {
      if (job.worker !== undefined) this.pool?.release(job.worker);
    }
    this.placed.clear();
    for (const job of this.queue.splice(0)) {
      this.options.onExit?.(job.spec.runId, neverStarted(job.taskArn));
    }
    const all = [...this.running.values()];
    for (const running of all) terminateWorker(running, this.graceMs);
    await Promise.all([...all.map((r) => r.exited), this.pool?.close()]);
  }

  private pump(): void {
    while (!this.closed && this.hasFreeSlot()) {
      const job = this.queue.shift();
      if (!job) return;
      const size = { cpu: job.spec.cpu, memory: job.spec.memory };
      const warm = this.pool?.take(size);
      // A backlog is bound by process starts: a run that already waited takes the pool's next
      // worker (already starting) rather than start a process of its own beside it.
      if (warm === undefined && job.backlog && this.pool?.hasStarting(size)) {
        this.queue.unshift(job);
        return;
      }
      job.mode = warm !== undefined ? "warm" : "cold";
      this.startJob(job, warm);
    }
  }

  /** Starts a job that has its slot: on its warm worker, or as a new process. */
  private startJob(job: Job, warm: WarmWorker | undefined): void {
    if (warm !== undefined) {
      this.startWarm(job, warm);
    } else {
      // A run must never take the process down: whatever goes wrong starting one worker ends
      // that run (through onExit) and the queue moves on.
      try {
        this.start(job);
      } catch (error) {
        this.failToStart(job.spec.runId, undefined, startFailure(error));
      }
    }
    this.hintPool(job);
  }

  /** The pool's idle workers of the job's size preload its artifact for the next run. */
  private hintPool(job: Job): void {
    const artifactUri = job.env[WORKER_ENV.artifactUri];
    const artifactSha256 = job.env[WORKER_ENV.artifactSha256];
    if (this.pool === undefined || !artifactUri || !artifactSha256) return;
    const runsTable = job.env[WORKER_ENV.runsTable];
    this.pool.hint(
      { cpu: job.spec.cpu, memory: job.spec.memory },
      { type: "dagy:preload", artifactUri, artifactSha256, ...(runsTable ? { runsTable } : {}) },
    );
  }

  /** Reports a worker that never started, after its log has the reason. */
  private failToStart(runId: string, log: WriteStream | undefined, reason: string): void {
    const stream = log ?? this.openLog(runId);
    stream.write(`dagy: could not start the worker: ${reason}\n`);
    void endLog(stream).then(() => {
      this.options.onExit?.(runId, {
        code: null,
        signal: null,
        error: `could not start the worker: ${reason}`,
      });
      this.pump();
    });
  }

  /**
   * What is done when a run's worker is done: it is forgotten as running (with `child`, only if
   * that process still runs it), its exit reported, and the queue moves on.
   */
  private endHooks(runId: string, child?: ChildProcess): WorkerEndHooks {
    return {
      done: () => {
        const running = this.running.get(runId);
        if (child !== undefined && running?.child !== child) return;
        if (running?.killTimer) clearTimeout(running.killTimer);
        this.running.delete(runId);
      },
      report: (exit) => this.options.onExit?.(runId, exit),
      next: () => this.pump(),
    };
  }

  private openLog(runId: string): WriteStream {
    return openWorkerLog(this.logPath(runId));
  }

  private start(job: Job): void {
    const runId = job.spec.runId;
    const env = { ...job.env, ...job.secrets };
    const bad = nulVariable(env);
    const log = this.openLog(runId);
    if (bad !== undefined) {
      this.failToStart(runId, log, `environment variable ${bad} contains a NUL byte`);
      return;
    }
    let child: ChildProcess;
    try {
      child = spawnWorker(this.command, this.options.cwd ?? REPO_ROOT, env, false);
    } catch (error) {
      this.failToStart(runId, log, startFailure(error));
      return;
    }
    const exited = followWorker(child, log, job.taskArn, this.endHooks(runId));
    this.running.set(runId, { child, log, exited });
  }

  /**
   * Hands the job to a warm worker over IPC. Its exit is reported exactly as a cold worker's,
   * so reconciliation relaunches or fails a run whose warm worker died; a worker that found the
   * run not QUEUED goes back to the pool and reports nothing (the run is someone else's).
   */
  private startWarm(job: Job, worker: WarmWorker): void {
    const runId = job.spec.runId;
    const log = this.openLog(runId);
    const bad = nulVariable({ ...job.env, ...job.secrets });
    if (bad !== undefined) {
      this.pool?.release(worker);
      this.failToStart(runId, log, `environment variable ${bad} contains a NUL byte`);
      return;
    }
    const exited = followWarmWorker(worker, log, job.taskArn, {
      ...this.endHooks(runId, worker.child),
      released: () => this.pool?.release(worker),
    });
    this.running.set(runId, { child: worker.child, log, exited });
    // False only when the worker is exiting: its exit is reported (followWarmWorker).
    worker.assign({
      type: "dagy:assign",
      env: job.env,
      ...(Object.keys(job.secrets).length > 0 ? { secrets: job.secrets } : {}),
      ...(job.claimed !== undefined ? { claimed: job.claimed } : {}),
    });
  }
}
