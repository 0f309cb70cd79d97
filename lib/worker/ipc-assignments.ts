/**
 * The local pool's assignment source (DAGY_WARM_SOURCE=ipc): LocalBackend spawns the worker with
 * an IPC channel and sends it its run as a message. The messages, both ways, are below; the pool
 * (lib/launcher/local-warm-pool.ts) speaks the other side.
 */
import { isPreloadMessage, type PreloadedMessage, type PreloadMessage } from "./preload";
import type { RunRecord } from "../persistence/records";
import type { Assignment, AssignmentSource } from "./warm";

/**
 * Parent -> worker: one run (the run's worker variables and its resolved secrets). While idle,
 * a worker may also be sent a `dagy:preload` (./preload.ts).
 */
export interface AssignMessage {
  readonly type: "dagy:assign";
  readonly env: Record<string, string>;
  readonly secrets?: Record<string, string>;
  /** The run, already claimed for this worker by the pool (see Assignment.claimed). */
  readonly claimed?: RunRecord;
}

/** Worker -> parent. */
export type WorkerMessage =
  /**
   * Loaded and waiting: count me as idle. Sent again after an assignment that was not this
   * worker's to run (the run was not QUEUED: a duplicate, or cancelled).
   */
  | { readonly type: "dagy:ready" }
  /** The assignment for `run_id` was taken (claimed, or found not QUEUED). */
  | { readonly type: "dagy:ack"; readonly run_id: string }
  /** Leaving without a run (SIGTERM while idle). */
  | { readonly type: "dagy:leave" }
  /** A `dagy:preload` is over: this worker has that artifact ready (or it failed: a miss). */
  | PreloadedMessage;

export function isAssignMessage(message: unknown): message is AssignMessage {
  if (message === null || typeof message !== "object") return false;
  const m = message as Partial<AssignMessage>;
  return m.type === "dagy:assign" && typeof m.env === "object" && m.env !== null;
}

/** What the source needs of a process (the real one, or a fake in tests). */
export interface IpcChannel {
  send?(message: WorkerMessage): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
  on(event: "disconnect", listener: () => void): unknown;
  readonly connected?: boolean;
}

export class IpcAssignmentSource implements AssignmentSource {
  private readonly pending: AssignMessage[] = [];
  private waiter: ((message: AssignMessage | undefined) => void) | undefined;
  private closed = false;

  constructor(
    private readonly channel: IpcChannel,
    options: {
      /**
       * An idle worker's hint of its next run's artifact (./preload.ts). When it returns a
       * promise, the parent is told `dagy:preloaded` once that settles.
       */
      readonly onPreload?: (message: PreloadMessage) => Promise<void> | void;
    } = {},
  ) {
    channel.on("message", (message) => {
      if (isPreloadMessage(message)) {
        const { artifactUri, artifactSha256 } = message;
        const preloaded = (): void =>
          this.send({ type: "dagy:preloaded", artifactUri, artifactSha256 });
        const over = options.onPreload?.(message);
        if (over !== undefined) over.then(preloaded, preloaded);
        return;
      }
      if (!isAssignMessage(message)) return;
      if (this.waiter) {
        const wake = this.waiter;
        this.waiter = undefined;
        wake(message);
      } else this.pending.push(message);
    });
    // The parent went away: nothing will be assigned; the worker exits.
    channel.on("disconnect", () => {
      this.closed = true;
      this.waiter?.(undefined);
      this.waiter = undefined;
    });
  }

  async next(signal: AbortSignal): Promise<Assignment | undefined> {
    const message = this.pending.shift() ?? (await this.wait(signal));
    if (message === undefined) return undefined;
    const runId = message.env.DAGY_RUN_ID ?? "";
    // Only the record of this very run, claimed: anything else and the worker claims itself.
    const claimed =
      message.claimed !== undefined &&
      message.claimed !== null &&
      typeof message.claimed === "object" &&
      message.claimed.run_id === runId &&
      message.claimed.status === "RUNNING"
        ? message.claimed
        : undefined;
    return {
      env: message.env,
      ...(message.secrets !== undefined ? { secrets: message.secrets } : {}),
      ...(claimed !== undefined ? { claimed } : {}),
      ack: () => {
        this.send({ type: "dagy:ack", run_id: runId });
        return Promise.resolve();
      },
    };
  }

  ready(): Promise<void> {
    this.send({ type: "dagy:ready" });
    return Promise.resolve();
  }

  leave(): Promise<void> {
    this.send({ type: "dagy:leave" });
    return Promise.resolve();
  }

  private wait(signal: AbortSignal): Promise<AssignMessage | undefined> {
    if (this.closed || signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolveNext) => {
      const onAbort = (): void => {
        this.waiter = undefined;
        resolveNext(undefined);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiter = (message) => {
        signal.removeEventListener("abort", onAbort);
        resolveNext(message);
      };
    });
  }

  private send(message: WorkerMessage): void {
    if (this.closed || this.channel.connected === false || !this.channel.send) return;
    try {
      this.channel.send(message);
    } catch {
      // The parent is gone: nothing to tell.
    }
  }
}

/** The source over this process's IPC channel (the worker was spawned with one). */
export function createIpcAssignmentSource(
  onPreload?: (message: PreloadMessage) => Promise<void> | void,
): IpcAssignmentSource {
  return new IpcAssignmentSource(process, onPreload !== undefined ? { onPreload } : {});
}
