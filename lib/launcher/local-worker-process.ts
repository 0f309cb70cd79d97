/**
 * One local worker process, apart from the backend's queue and pool: its task id, its command,
 * its log file, how it is stopped and how its exit is reported.
 */
import type { ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join, resolve } from "node:path";

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
