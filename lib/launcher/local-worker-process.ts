/**
 * One local worker process, apart from the backend's queue and pool: its task id, its command,
 * its log file, how it is followed until it is done (a cold process or a warm worker given a
 * run), how it is stopped and how its exit is reported.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join, resolve } from "node:path";
import type { WarmWorker } from "./local-warm-pool";

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

/** The exit report of a worker that ran: `stderrTail` is the end of what it printed there. */
export function workerExit(
  taskArn: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  stderrTail: string,
): LocalWorkerExit {
  return {
    taskArn,
    code,
    signal,
    ...(HEAP_EXHAUSTED.test(stderrTail) ? { outOfMemory: true } : {}),
  };
}

/** The exit report of a run whose worker never started (stopped before it left the queue). */
export function neverStarted(taskArn: string): LocalWorkerExit {
  return { taskArn, code: null, signal: null, neverStarted: true };
}

/** lib/launcher -> repository root. */
export const REPO_ROOT = resolve(__dirname, "..", "..");

export function defaultWorkerCommand(repoRoot = REPO_ROOT): string[] {
  // tsx's loader, by absolute path, so the worker does not depend on the cwd's node_modules.
  return [
    process.execPath,
    "--import",
    require.resolve("tsx"),
    join(repoRoot, "worker", "main.ts"),
  ];
}

/**
 * Starts `command` (its first element the executable, default this Node) in `cwd` with exactly
 * `env`; stdout and stderr piped, and with `ipc` a channel for a warm worker to receive its run.
 */
export function spawnWorker(
  command: readonly string[],
  cwd: string,
  env: Record<string, string>,
  ipc: boolean,
): ChildProcess {
  const [file, ...args] = command;
  return spawn(file ?? process.execPath, args, {
    cwd,
    env,
    stdio: ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
  });
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

/**
 * The name of a variable whose name or value holds a NUL byte: spawn throws on one and its
 * message would quote the value (maybe a secret), so the caller names the variable instead.
 */
export function nulVariable(env: Record<string, string>): string | undefined {
  return Object.entries(env).find(([k, v]) => k.includes("\0") || v.includes("\0"))?.[0];
}

/** Opens a worker's log for appending, readable by this user only. */
export function openWorkerLog(path: string): WriteStream {
  const log = createWriteStream(path, { flags: "a", mode: 0o600 });
  // A log that cannot be written (disk full) must not crash the platform; the run goes on.
  log.on("error", () => undefined);
  return log;
}

/** A worker that has a run: its process, its log, and a promise settled once it is done. */
export interface RunningWorker {
  readonly child: ChildProcess;
  readonly log: WriteStream;
  readonly exited: Promise<void>;
  killTimer?: NodeJS.Timeout;
}

/** SIGTERM, then SIGKILL after `graceMs` if it is still running. */
export function terminateWorker(running: RunningWorker, graceMs: number): void {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill("SIGTERM");
  running.killTimer ??= setTimeout(() => {
    running.child.kill("SIGKILL");
  }, graceMs);
  running.killTimer.unref();
}

/** What the backend does when a worker that has a run is done (see followWorker). */
export interface WorkerEndHooks {
  /** At once, before the worker's log is flushed: it no longer runs (clear its kill timer). */
  readonly done: () => void;
  /** Once its log is flushed: its one exit report. The returned promise resolves right after. */
  readonly report: (exit: LocalWorkerExit) => void;
  /** Last, after that promise resolved: its slot is free. */
  readonly next: () => void;
}

/**
 * Follows a cold worker process until it is done: its stdout and stderr go to `log` (the last
 * 4 KiB of stderr kept, to tell a heap exhaustion), and its end ("close", so every byte of its
 * output is in the log first; or "error" when it could not start) is reported exactly once,
 * after the log is flushed. Returns a promise resolved once that report is made.
 */
export function followWorker(
  child: ChildProcess,
  log: WriteStream,
  taskArn: string,
  hooks: WorkerEndHooks,
): Promise<void> {
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let stderrTail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString("utf8")).slice(-4096);
  });
  let reported = false;
  return new Promise<void>((resolveExit) => {
    const finish = (exit: LocalWorkerExit): void => {
      if (reported) return;
      reported = true;
      hooks.done();
      void endLog(log).then(() => {
        hooks.report(exit);
        resolveExit();
        hooks.next();
      });
    };
    child.on("error", (error) => {
      const reason = startFailure(error);
      log.write(`dagy: could not start the worker: ${reason}\n`);
      finish({
        taskArn,
        code: null,
        signal: null,
        error: `could not start the worker: ${reason}`,
      });
    });
    // "close" (not "exit") so every byte of output reached the log first.
    child.on("close", (code, signal) => finish(workerExit(taskArn, code, signal, stderrTail)));
  });
}

/**
 * Follows a warm worker given a run: its output goes to `log`; its exit is reported exactly as a
 * cold worker's (after the log is flushed). A worker released back to the pool (it found the
 * run not QUEUED) reports nothing: `released` gives it back, then the log is ended. Returns a
 * promise resolved once it is done either way.
 */
export function followWarmWorker(
  worker: WarmWorker,
  log: WriteStream,
  taskArn: string,
  hooks: WorkerEndHooks & { readonly released: () => void },
): Promise<void> {
  worker.setSink(log);
  let resolveExit: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => (resolveExit = resolve));
  worker.onExit = (code, signal) => {
    hooks.done();
    void endLog(log).then(() => {
      hooks.report(workerExit(taskArn, code, signal, worker.stderrTail));
      resolveExit();
      hooks.next();
    });
  };
  worker.onReleased = () => {
    hooks.done();
    hooks.released();
    void endLog(log).then(() => {
      resolveExit();
      hooks.next();
    });
  };
  return exited;
}

/** The reason a spawn failed, without the values it was given (they may be secrets). */
export function startFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ERR_INVALID_ARG_VALUE" || code === "ERR_INVALID_ARG_TYPE") {
    return "the worker command or its environment is invalid";
  }
  if (error instanceof Error)
    return code !== undefined ? `${code}: ${error.message}` : error.message;
  return String(error);
}

/** Ends a log stream; resolves once it is flushed, or at once if it failed. */
export function endLog(log: WriteStream): Promise<void> {
  return new Promise((resolveEnd) => {
    if (log.destroyed || log.errored) {
      resolveEnd();
      return;
    }
    log.once("error", () => resolveEnd());
    log.end(() => resolveEnd());
  });
}
