/**
 * LocalBackend's warm pool (issue #14): worker processes started ahead of demand with
 * DAGY_WARM_SOURCE=ipc, one pool per worker size (cpu/memory: the Node heap limit is per size),
 * each waiting for one run over IPC (lib/worker/ipc-assignments.ts speaks the worker's side).
 *
 * - `take` hands out an idle worker and refills in the background, off the run's critical path:
 *   at once when the size has no idle worker left, else after REFILL_DELAY_MS. Starting a
 *   worker costs a few hundred ms of CPU, and spawning it blocks this process's event loop for
 *   a few ms; on a small machine, doing either beside the run it was taken for slowed that run
 *   by tens of ms (measured on 2 cores: bench/warm.ts). Not at the run's end either: that is
 *   when its caller reads the result.
 * - A worker that was handed a run not its own (the run was not QUEUED) says `dagy:ready` again
 *   and comes back (`release`).
 * - `hint` names the artifact a size's runs most likely need next: its idle workers preload it
 *   (`dagy:preload`, lib/worker/preload.ts), and so does each worker as it becomes idle. A worker
 *   says when its preload is over (`dagy:preloaded`); `take` prefers one that has the hint
 *   ready to one still fetching it (a just-refilled worker, say).
 * - An idle worker that dies is replaced; a size whose workers keep dying before they are ready
 *   is retried with a growing delay and given up after MAX_START_FAILURES in a row (no spinning).
 * - The pool reports nothing about runs: once a worker is taken, its exit is the backend's.
 */
import type { ChildProcess } from "node:child_process";
import type { Writable } from "node:stream";
import type { AssignMessage } from "../worker/ipc-assignments";
import type { PreloadMessage } from "../worker/preload";

/** Consecutive workers of one size that died before `ready`, after which the size is left cold. */
export const MAX_START_FAILURES = 5;
const FIRST_RETRY_MS = 500;
/** How long a refill waits, while the size still has an idle worker, for the run to get going. */
export const REFILL_DELAY_MS = 250;
const MAX_RETRY_MS = 30_000;

export interface WorkerSize {
  readonly cpu: string;
  readonly memory: string;
}

export interface LocalWarmPoolOptions {
  /** Idle workers kept per size. 0: no pool. */
  readonly size: number;
  /** Sizes kept warm from the start (others join at their first run). */
  readonly sizes: readonly WorkerSize[];
  /** Starts a warm worker of a size (stdio piped, with an IPC channel). May throw. */
  readonly spawn: (size: WorkerSize) => ChildProcess;
  /** A line for the platform's log (a size given up, say). */
  readonly log?: (line: string) => void;
  /**
   * The pool changed in a way queued runs care about: a worker became idle (started, or
   * released), or one that was starting died (those waiting for it start cold).
   */
  readonly onIdle?: () => void;
  /** How long a refill is deferred while the size has an idle worker. Default REFILL_DELAY_MS. */
  readonly refillDelayMs?: number;
}

type State = "starting" | "idle" | "busy" | "gone";
type ExitHandler = (code: number | null, signal: NodeJS.Signals | null) => void;

/** One warm worker process. */
export class WarmWorker {
  state: State = "starting";
  private exitHandler: ExitHandler | undefined;
  /** An exit while taken that no one was listening for yet (it died while held for a run). */
  private unheard: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Set by the backend: the worker said the run was not its own and waits again. */
  onReleased: (() => void) | undefined;
  private sink: Writable | undefined;
  private tail = "";
  private hinted: PreloadMessage | undefined;
  /** The last hint whose preload this worker said is over (`dagy:preloaded`). */
  private preloaded: PreloadMessage | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly size: WorkerSize,
  ) {
    const forward = (chunk: Buffer): void => {
      if (this.sink !== undefined && !this.sink.destroyed) this.sink.write(chunk);
    };
    child.stdout?.on("data", forward);
    child.stderr?.on("data", (chunk: Buffer) => {
      forward(chunk);
      this.tail = (this.tail + chunk.toString("utf8")).slice(-4096);
    });
  }

  /**
   * Set by the backend when it hands this worker a run. An exit that came before (the worker
   * died while held, before its run was handed over) is reported to it at once.
   */
  get onExit(): ExitHandler | undefined {
    return this.exitHandler;
  }
  set onExit(handler: ExitHandler | undefined) {
    this.exitHandler = handler;
    const missed = this.unheard;
    if (handler === undefined || missed === undefined) return;
    this.unheard = undefined;
    setImmediate(() => handler(missed.code, missed.signal));
  }

  /** The pool's word that this taken worker exited. */
  exitedWhileTaken(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitHandler !== undefined) this.exitHandler(code, signal);
    else this.unheard = { code, signal };
  }

  /** The last 4 KiB the worker wrote to stderr (heap exhaustion shows there). */
  get stderrTail(): string {
    return this.tail;
  }

  /** Where the worker's output goes from now on (a run's log). */
  setSink(sink: Writable | undefined): void {
    this.sink = sink;
  }

  /** The worker's answer to a hint: its preload of that artifact is over. */
  preloadOver(artifactUri: unknown, artifactSha256: unknown): void {
    const hinted = this.hinted;
    if (hinted === undefined) return;
    if (hinted.artifactUri === artifactUri && hinted.artifactSha256 === artifactSha256) {
      this.preloaded = hinted;
    }
  }

  /** Sent a hint it has not finished preloading. */
  get preloading(): boolean {
    return this.hinted !== undefined && this.preloaded !== this.hinted;
  }

  /** Sends a preload hint unless this worker has it already. Idle workers only. */
  preload(message: PreloadMessage): void {
    if (this.state !== "idle" || this.hinted === message || !this.child.connected) return;
    try {
      if (this.child.send(message)) this.hinted = message;
    } catch {
      // The worker is exiting: its exit is handled where it is.
    }
  }

  /** Sends the run. False when the channel is gone (the worker is exiting: its exit reports). */
  assign(message: AssignMessage): boolean {
    if (!this.child.connected) return false;
    try {
      return this.child.send(message);
    } catch {
      return false;
    }
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

function keyOf(size: WorkerSize): string {
  return `${size.cpu}/${size.memory}`;
}

interface SizePool {
  readonly size: WorkerSize;
  readonly workers: Set<WarmWorker>;
  failures: number;
  retryTimer?: NodeJS.Timeout;
  /** A deferred refill (see take). */
  refillTimer?: NodeJS.Timeout;
  givenUp: boolean;
  /** The artifact of this size's last run: what its idle workers preload. */
  hint?: PreloadMessage;
}

export class LocalWarmPool {
  private readonly pools = new Map<string, SizePool>();
  private closed = false;

  constructor(private readonly options: LocalWarmPoolOptions) {
    for (const size of options.sizes) this.poolOf(size);
  }

  /**
   * Idle (ready) and starting workers, over every size; `preloading`: idle ones still
   * preloading their hint.
   */
  get stats(): { idle: number; starting: number; preloading: number } {
    let idle = 0;
    let starting = 0;
    let preloading = 0;
    for (const pool of this.pools.values()) {
      for (const worker of pool.workers) {
        if (worker.state === "idle") {
          idle++;
          if (worker.preloading) preloading++;
        } else if (worker.state === "starting") starting++;
      }
    }
    return { idle, starting, preloading };
  }

  /** True when a worker of this size is starting (it will be idle soon, unless it dies). */
  hasStarting(size: WorkerSize): boolean {
    const pool = this.pools.get(keyOf(size));
    if (pool === undefined || this.closed) return false;
    for (const worker of pool.workers) if (worker.state === "starting") return true;
    return false;
  }

  /** Process ids of the idle (ready) workers. */
  idlePids(): number[] {
    const pids: number[] = [];
    for (const pool of this.pools.values()) {
      for (const worker of pool.workers) {
        if (worker.state === "idle" && worker.child.pid !== undefined) pids.push(worker.child.pid);
      }
    }
    return pids;
  }

  /**
   * An idle worker of this size, now taken (busy), or undefined. A size not seen before joins
   * the pool (its workers start now, for the next runs of that size).
   */
  take(size: WorkerSize): WarmWorker | undefined {
    if (this.closed || this.options.size <= 0) return undefined;
    const pool = this.poolOf(size);
    // An idle worker that has its preload over, else any idle one.
    let taken: WarmWorker | undefined;
    for (const worker of pool.workers) {
      if (worker.state !== "idle" || !worker.alive || !worker.child.connected) continue;
      if (taken === undefined || (taken.preloading && !worker.preloading)) taken = worker;
      if (!taken.preloading) break;
    }
    if (taken !== undefined) {
      taken.state = "busy";
      pool.workers.delete(taken);
    }
    let idleLeft = false;
    for (const worker of pool.workers) if (worker.state === "idle") idleLeft = true;
    // Off the critical path: the caller sends the assignment first.
    if (taken === undefined || !idleLeft) setImmediate(() => this.refill(pool));
    else this.refillLater(pool);
    return taken;
  }

  /**
   * The artifact runs of this size most likely need next (the last one's): idle workers of
   * the size preload it, and so does every worker that becomes idle from now on.
   */
  hint(size: WorkerSize, message: PreloadMessage): void {
    if (this.closed || this.options.size <= 0) return;
    const pool = this.poolOf(size);
    const same = pool.hint;
    if (
      same?.artifactUri === message.artifactUri &&
      same.artifactSha256 === message.artifactSha256 &&
      same.runsTable === message.runsTable
    ) {
      return;
    }
    pool.hint = message;
    for (const worker of pool.workers) worker.preload(message);
  }

  /** A taken worker that is waiting again (its run was not its own): idle once more. */
  release(worker: WarmWorker): void {
    const pool = this.poolOf(worker.size);
    worker.onExit = undefined;
    worker.onReleased = undefined;
    worker.setSink(undefined);
    if (!worker.alive) {
      // It died while taken (held for a run that was given back): a new one takes its place.
      worker.state = "gone";
      if (!this.closed) setImmediate(() => this.refill(pool));
      return;
    }
    if (this.closed || pool.workers.size >= this.options.size) {
      worker.state = "gone";
      worker.child.kill("SIGTERM");
      return;
    }
    worker.state = "idle";
    pool.workers.add(worker);
    if (pool.hint !== undefined) worker.preload(pool.hint);
    this.options.onIdle?.();
  }

  /** Stops every idle worker and waits for their exits. Taken workers are the backend's. */
  async close(): Promise<void> {
    this.closed = true;
    const exits: Promise<void>[] = [];
    for (const pool of this.pools.values()) {
      if (pool.retryTimer) clearTimeout(pool.retryTimer);
      if (pool.refillTimer) clearTimeout(pool.refillTimer);
      for (const worker of pool.workers) {
        worker.state = "gone";
        if (!worker.alive) continue;
        exits.push(new Promise((resolveExit) => worker.child.once("close", () => resolveExit())));
        worker.child.kill("SIGTERM");
      }
      pool.workers.clear();
    }
    await Promise.all(exits);
  }

  private poolOf(size: WorkerSize): SizePool {
    const key = keyOf(size);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = {
        size: { cpu: size.cpu, memory: size.memory },
        workers: new Set(),
        failures: 0,
        givenUp: false,
      };
      this.pools.set(key, pool);
      const created = pool;
      setImmediate(() => this.refill(created));
    }
    return pool;
  }

  /** Refills after REFILL_DELAY_MS, unless a refill comes sooner (the pool runs dry). */
  private refillLater(pool: SizePool): void {
    if (pool.refillTimer !== undefined) return;
    pool.refillTimer = setTimeout(
      () => this.refill(pool),
      this.options.refillDelayMs ?? REFILL_DELAY_MS,
    );
    pool.refillTimer.unref();
  }

  private refill(pool: SizePool): void {
    if (pool.refillTimer !== undefined) {
      clearTimeout(pool.refillTimer);
      pool.refillTimer = undefined;
    }
    if (this.closed || pool.givenUp || pool.retryTimer !== undefined) return;
    while (pool.workers.size < this.options.size) {
      if (!this.startOne(pool)) return;
    }
  }

  /** Starts one worker; false when spawning failed (a retry is scheduled). */
  private startOne(pool: SizePool): boolean {
    let child: ChildProcess;
    try {
      child = this.options.spawn(pool.size);
    } catch (error) {
      this.startFailed(pool, error instanceof Error ? error.message : String(error));
      return false;
    }
    const worker = new WarmWorker(child, pool.size);
    pool.workers.add(worker);
    child.on("message", (message: unknown) => {
      const m = message as { type?: unknown; artifactUri?: unknown; artifactSha256?: unknown };
      if (m?.type === "dagy:preloaded") worker.preloadOver(m.artifactUri, m.artifactSha256);
      if (m?.type !== "dagy:ready") return;
      if (worker.state === "starting") {
        worker.state = "idle";
        pool.failures = 0;
        if (pool.hint !== undefined) worker.preload(pool.hint);
        this.options.onIdle?.();
      } else if (worker.state === "busy") {
        worker.onReleased?.();
      }
    });
    child.on("error", () => undefined); // "close" follows and says what happened
    child.on("close", (code, signal) => {
      const was = worker.state;
      worker.state = "gone";
      if (was === "busy") {
        worker.exitedWhileTaken(code, signal);
        return;
      }
      pool.workers.delete(worker);
      if (this.closed || was === "gone") return;
      if (was === "starting") {
        this.startFailed(
          pool,
          `a warm worker exited before it was ready (code ${code}, signal ${signal})`,
        );
        // A queued run waiting for this worker must start cold now, not wait for the retry.
        this.options.onIdle?.();
      } else {
        this.refill(pool);
      }
    });
    return true;
  }

  private startFailed(pool: SizePool, reason: string): void {
    // Workers start in parallel: those already starting when the size was given up fail too.
    if (pool.givenUp) return;
    pool.failures++;
    if (pool.failures >= MAX_START_FAILURES) {
      pool.givenUp = true;
      this.options.log?.(
        `warm pool ${keyOf(pool.size)}: ${pool.failures} workers in a row failed to start (${reason}); runs of this size start cold`,
      );
      return;
    }
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (pool.failures - 1));
    pool.retryTimer = setTimeout(() => {
      pool.retryTimer = undefined;
      this.refill(pool);
    }, delay);
    pool.retryTimer.unref();
  }
}
