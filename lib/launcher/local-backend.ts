/**
 * Runs the worker entry point as a child process: the embedded default's compute. The child
 * gets exactly the environment an ECS container would (the spec's), plus the local endpoints,
 * dummy credentials for the local servers, and the run's secrets resolved from a local JSON
 * file (`{"<secret ARN>": "<value>"}`) — the local equivalent of ECS secret injection.
 *
 * At most `maxConcurrent` workers run at once; further submissions queue, and `submit` still
 * returns at once with `local:<runId>` (the run stays QUEUED until its worker starts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join, resolve } from "node:path";
import { LOCAL_CREDENTIALS } from "../aws/dynamodb";
import { WARM_ENV, WORKER_ENV } from "../config/env";
import { WORKER_EXTRA_ENV } from "../worker/config";
import { TaskSubmissionError } from "./errors";
import {
  DEFAULT_INHERITED,
  endLog,
  heapLimitMib,
  resolveLocalSecrets,
  startFailure,
} from "./local-worker-env";

export { heapLimitMib } from "./local-worker-env";
import { LocalWarmPool, type WarmWorker, type WorkerSize } from "./local-warm-pool";
import {
  WORKLOAD_PROFILES,
  type ComputeBackend,
  type SubmitResult,
  type StartMode,
  type WorkerLaunchSpec,
} from "./types";

export const LOCAL_TASK_ARN_PREFIX = "local:";

export interface LocalWorkerExit {
  /** The attempt's task id (`local:<runId>`, `local:<runId>:<attempt>` for relaunches). */
  readonly taskArn?: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the worker was removed from the queue before it started. */
  readonly neverStarted?: boolean;
  /** Why the worker could not be started (spawn failed); the run fails with this reason. */
  readonly error?: string;
  /**
   * True when the worker died of heap exhaustion: the local equivalent of ECS killing a
   * container for memory (the heap limit is derived from the run's memory).
   */
  readonly outOfMemory?: boolean;
}

/** V8's last words when a heap limit is reached. */
const HEAP_EXHAUSTED = /JavaScript heap out of memory|Reached heap limit/;

export interface LocalBackendOptions {
  /**
   * argv of the worker. Default: this Node binary with tsx's loader running
   * `<repo>/worker/main.ts`.
   */
  readonly workerCommand?: readonly string[];
  /** Working directory of workers. Default: the repository root. */
  readonly cwd?: string;
  /** Default 4. */
  readonly maxConcurrent?: number;
  /** Each worker's stdout and stderr go to `<logDir>/<runId>.log` (read by `dagy logs`). */
  readonly logDir: string;
  /** Local DynamoDB and S3 endpoints the worker talks to. */
  readonly dynamodbEndpoint?: string;
  readonly s3Endpoint?: string;
  /** Default us-east-1. */
  readonly region?: string;
  /** JSON `{ "<secret ARN>": "<value>" }`; required only by runs with secrets. */
  readonly secretsFile?: string;
  /** SIGTERM, then SIGKILL after this long. Default 10 s. */
  readonly stopGraceMs?: number;
  /**
   * Variables inherited from this process (PATH and the like), never AWS credentials.
   * Default: PATH, HOME, TMPDIR, TEMP, TMP, SystemRoot, LANG, TZ, NODE_OPTIONS.
   */
  readonly inheritEnv?: readonly string[];
  /**
   * Limit each worker's Node heap to its memory (`--max-old-space-size`, see heapLimitMib), so a
   * run that would be killed for memory on Fargate dies of heap exhaustion here. Default true.
   */
  readonly enforceMemory?: boolean;
  /** Called once per run when its worker exits (or leaves the queue): the platform reconciles. */
  readonly onExit?: (runId: string, exit: LocalWorkerExit) => void;
  /**
   * The platform's HTTP API, given to workers as DAGY_API_URL: an isolated map's worker asks
   * it for child runs. Also settable later (`setApiUrl`): the server starts after the backend.
   */
  readonly apiUrl?: string;
  /**
   * Idle warm workers kept per worker size (issue #14): started ahead of demand, handed a run
   * over IPC. Default 0 here (the platform's `--warm` defaults to 2); 0 disables the pool.
   */
  readonly warm?: number;
  /** Sizes kept warm from the start. Default: the default workload profile's (medium). */
  readonly warmSizes?: readonly WorkerSize[];
  /** Workers read artifacts by SHA-256 from here (DAGY_ARTIFACT_CACHE_DIR) before S3. */
  readonly artifactCacheDir?: string;
  /** The platform's log (the pool says when it gives a size up). */
  readonly log?: (line: string) => void;
}

/** lib/launcher -> repository root. */
const REPO_ROOT = resolve(__dirname, "..", "..");

export function defaultWorkerCommand(repoRoot = REPO_ROOT): string[] {
  // tsx's loader, by absolute path, so the worker does not depend on the cwd's node_modules.
  return [
    process.execPath,
    "--import",
    require.resolve("tsx"),
    join(repoRoot, "worker", "main.ts"),
  ];
}

export function localTaskArn(runId: string, attempt = 1): string {
  return attempt > 1
    ? `${LOCAL_TASK_ARN_PREFIX}${runId}:${attempt}`
    : `${LOCAL_TASK_ARN_PREFIX}${runId}`;
}

/** The run id of a local task id (either form). */
export function runIdOfLocalTask(taskArn: string): string {
  const id = taskArn.startsWith(LOCAL_TASK_ARN_PREFIX)
    ? taskArn.slice(LOCAL_TASK_ARN_PREFIX.length)
    : taskArn;
  return id.replace(/:\d+$/, "");
}

interface Job {
  readonly spec: WorkerLaunchSpec;
  /** The worker's variables: platform ones, the run's, the heap limit. Secrets apart. */
  readonly env: Record<string, string>;
  readonly secrets: Record<string, string>;
  readonly taskArn: string;
  /** Set once the job leaves the queue. */
  mode?: StartMode;
  /** It waited for a slot: it may wait for a starting warm worker too (see pump). */
  backlog?: boolean;
}

interface Running {
  readonly child: ChildProcess;
  readonly log: WriteStream;
  readonly exited: Promise<void>;
  killTimer?: NodeJS.Timeout;
}

export class LocalBackend implements ComputeBackend {
  private readonly queue: Job[] = [];
  private readonly running = new Map<string, Running>();
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

  /** Runs started and not yet exited, runs waiting for a slot, warm workers waiting for a run. */
  get stats(): { running: number; queued: number; idle: number; starting: number } {
    return {
      running: this.running.size,
      queued: this.queue.length,
      ...(this.pool?.stats ?? { idle: 0, starting: 0 }),
    };
  }

  /** Process ids of the warm workers waiting for a run (`dagy dev` diagnostics, tests). */
  idleWorkerPids(): number[] {
    return this.pool?.idlePids() ?? [];
  }

  async submit(spec: WorkerLaunchSpec): Promise<SubmitResult> {
    if (this.closed) throw new TaskSubmissionError("the local backend is closed");
    // Resolve secrets now, so a missing one fails the launch rather than the worker.
    const secrets = resolveLocalSecrets(this.options.secretsFile, spec.secretsEnv);
    const taskArn = localTaskArn(spec.runId, spec.attempt);
    const env = this.withHeap(
      { ...this.baseEnv(), ...spec.environment, [WORKER_EXTRA_ENV.taskArn]: taskArn },
      spec.memory,
    );
    const job: Job = { spec, env, secrets, taskArn };
    this.queue.push(job);
    this.pump();
    if (job.mode === undefined) job.backlog = true;
    // A job still queued gets its mode when a slot frees; its worker's claim records it then.
    return {
      taskArn,
      logStream: this.logPath(spec.runId),
      ...(job.mode !== undefined ? { startMode: job.mode } : {}),
    };
  }

  private withHeap(env: Record<string, string>, memory: string): Record<string, string> {
    const heap = this.options.enforceMemory === false ? undefined : heapLimitMib(memory);
    if (heap !== undefined) {
      env.NODE_OPTIONS = [env.NODE_OPTIONS, `--max-old-space-size=${heap}`]
        .filter(Boolean)
        .join(" ");
    }
    return env;
  }

  /** A warm worker of a size: platform variables only, an IPC channel to receive its run. */
  private spawnWarm(size: WorkerSize): ChildProcess {
    const [file, ...args] = this.command;
    const env = this.withHeap({ ...this.baseEnv(), [WARM_ENV.source]: "ipc" }, size.memory);
    return spawn(file ?? process.execPath, args, {
      cwd: this.options.cwd ?? REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
  }

  async stop(taskArn: string, _reason: string): Promise<void> {
    const runId = runIdOfLocalTask(taskArn);
    const queued = this.queue.findIndex((job) => job.spec.runId === runId);
    if (queued !== -1) {
      const [job] = this.queue.splice(queued, 1);
      this.options.onExit?.(runId, {
        taskArn: job?.taskArn ?? taskArn,
        code: null,
        signal: null,
        neverStarted: true,
      });
      return;
    }
    const running = this.running.get(runId);
    if (!running) return; // exited already
    this.terminate(running);
  }

  /** Stops every worker (queued ones never start) and waits until all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      this.options.onExit?.(job.spec.runId, {
        taskArn: job.taskArn,
        code: null,
        signal: null,
        neverStarted: true,
      });
    }
    const all = [...this.running.values()];
    for (const running of all) this.terminate(running);
    await Promise.all([...all.map((r) => r.exited), this.pool?.close()]);
  }

  private terminate(running: Running): void {
    if (running.child.exitCode !== null || running.child.signalCode !== null) return;
    running.child.kill("SIGTERM");
    running.killTimer ??= setTimeout(() => {
      running.child.kill("SIGKILL");
    }, this.graceMs);
    running.killTimer.unref();
  }

  private baseEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of this.options.inheritEnv ?? DEFAULT_INHERITED) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    env.AWS_REGION = this.options.region ?? "us-east-1";
    // The credentials the local servers accept (dynalite takes any; s3rver only its own), so a
    // flow's own S3 client works locally as it does with a task role in AWS; never hand the
    // parent's real ones to a run.
    env.AWS_ACCESS_KEY_ID = LOCAL_CREDENTIALS.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = LOCAL_CREDENTIALS.secretAccessKey;
    if (this.options.dynamodbEndpoint) env.DAGY_DYNAMODB_ENDPOINT = this.options.dynamodbEndpoint;
    if (this.options.s3Endpoint) env.DAGY_S3_ENDPOINT = this.options.s3Endpoint;
    if (this.apiUrl) env.DAGY_API_URL = this.apiUrl;
    if (this.options.artifactCacheDir) {
      env[WORKER_EXTRA_ENV.artifactCacheDir] = this.options.artifactCacheDir;
    }
    return env;
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.maxConcurrent) {
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
      if (warm !== undefined) {
        job.mode = "warm";
        this.startWarm(job, warm);
        this.hintPool(job);
        continue;
      }
      job.mode = "cold";
      // A run must never take the process down: whatever goes wrong starting one worker ends
      // that run (through onExit) and the queue moves on.
      try {
        this.start(job);
      } catch (error) {
        this.failToStart(job.spec.runId, undefined, startFailure(error));
      }
      this.hintPool(job);
    }
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

  private openLog(runId: string): WriteStream {
    const log = createWriteStream(this.logPath(runId), { flags: "a", mode: 0o600 });
    // A log that cannot be written (disk full) must not crash the platform; the run goes on.
    log.on("error", () => undefined);
    return log;
  }

  private start(job: Job): void {
    const runId = job.spec.runId;
    const [file, ...args] = this.command;
    // spawn throws on a NUL byte and its message would quote the value (maybe a secret):
    // name the variable instead.
    const env = { ...job.env, ...job.secrets };
    const bad = Object.entries(env).find(([k, v]) => k.includes("\0") || v.includes("\0"))?.[0];
    const log = this.openLog(runId);
    if (bad !== undefined) {
      this.failToStart(runId, log, `environment variable ${bad} contains a NUL byte`);
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(file ?? process.execPath, args, {
        cwd: this.options.cwd ?? REPO_ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (error) {
      this.failToStart(runId, log, startFailure(error));
      return;
    }
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    let stderrTail = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-4096);
    });
    let reported = false;
    const exited = new Promise<void>((resolveExit) => {
      const finish = (exit: LocalWorkerExit): void => {
        if (reported) return;
        reported = true;
        const running = this.running.get(runId);
        if (running?.killTimer) clearTimeout(running.killTimer);
        this.running.delete(runId);
        void endLog(log).then(() => {
          this.options.onExit?.(runId, exit);
          resolveExit();
          this.pump();
        });
      };
      child.on("error", (error) => {
        const reason = startFailure(error);
        log.write(`dagy: could not start the worker: ${reason}\n`);
        finish({
          taskArn: job.taskArn,
          code: null,
          signal: null,
          error: `could not start the worker: ${reason}`,
        });
      });
      // "close" (not "exit") so every byte of output reached the log first.
      child.on("close", (code, signal) =>
        finish({
          taskArn: job.taskArn,
          code,
          signal,
          ...(HEAP_EXHAUSTED.test(stderrTail) ? { outOfMemory: true } : {}),
        }),
      );
    });
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
    const all = { ...job.env, ...job.secrets };
    const bad = Object.entries(all).find(([k, v]) => k.includes("\0") || v.includes("\0"))?.[0];
    if (bad !== undefined) {
      this.pool?.release(worker);
      this.failToStart(runId, log, `environment variable ${bad} contains a NUL byte`);
      return;
    }
    worker.setSink(log);
    let resolveExit: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (resolveExit = resolve));
    const forget = (): void => {
      const running = this.running.get(runId);
      if (running?.child !== worker.child) return;
      if (running.killTimer) clearTimeout(running.killTimer);
      this.running.delete(runId);
    };
    worker.onExit = (code, signal) => {
      forget();
      void endLog(log).then(() => {
        this.options.onExit?.(runId, {
          taskArn: job.taskArn,
          code,
          signal,
          ...(HEAP_EXHAUSTED.test(worker.stderrTail) ? { outOfMemory: true } : {}),
        });
        resolveExit();
        this.pump();
      });
    };
    worker.onReleased = () => {
      forget();
      this.pool?.release(worker);
      void endLog(log).then(() => {
        resolveExit();
        this.pump();
      });
    };
    this.running.set(runId, { child: worker.child, log, exited });
    // False only when the worker is exiting: its exit is reported above.
    worker.assign({
      type: "dagy:assign",
      env: job.env,
      ...(Object.keys(job.secrets).length > 0 ? { secrets: job.secrets } : {}),
    });
  }
}
