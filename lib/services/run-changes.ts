/**
 * Waiting for a run to change (`GET /runs/{id}?wait_seconds=N`): a reader watches the run, reads
 * it, and, while it is not terminal, waits for the next sign that it may have changed before
 * reading again.
 *
 * - In AWS nothing announces a write to the runs table to the API function, so the sign is a
 *   timer (`pollingRunChanges`): the function re-reads every half second, for at most the wait
 *   the caller asked (API Gateway ends a request at 30 s: MAX_RUN_WAIT_SECONDS stays well
 *   inside it).
 * - On the embedded platform every write reaches the local DynamoDB server in this process, and
 *   the platform tells a `RunChangeHub` of each write to the runs table: the reader wakes as the
 *   worker's status write lands, not on the next tick of a timer.
 *
 * A watch is taken before the first read, so a change between that read and the wait is never
 * missed: `next` returns at once when one arrived since the last call.
 */

/** The longest wait a request may ask for. HTTP APIs end an integration at 30 s. */
export const MAX_RUN_WAIT_SECONDS = 20;

export interface RunWatch {
  /**
   * Resolves once the run may have changed since the watch began or `next` last returned, or
   * after `timeoutMs`, whichever is first.
   */
  next(timeoutMs: number): Promise<void>;
  close(): void;
}

export interface RunChangeFeed {
  watch(runId: string): RunWatch;
}

/** A feed with no news: the reader re-reads every `intervalMs` (the API function in AWS). */
export function pollingRunChanges(intervalMs = 500): RunChangeFeed {
  return {
    watch: () => ({
      next: (timeoutMs) =>
        new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(intervalMs, timeoutMs)))),
      close: () => undefined,
    }),
  };
}

interface Watcher {
  dirty: boolean;
  wake: (() => void) | undefined;
}

/** An in-process feed: whoever sees a run written calls `changed(runId)`. */
export class RunChangeHub implements RunChangeFeed {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private count = 0;

  /** Watches open now (the store tap looks at writes only while some are). */
  get watching(): number {
    return this.count;
  }

  changed(runId: string): void {
    for (const watcher of this.watchers.get(runId) ?? []) {
      watcher.dirty = true;
      watcher.wake?.();
    }
  }

  watch(runId: string): RunWatch {
    const watcher: Watcher = { dirty: false, wake: undefined };
    let set = this.watchers.get(runId);
    if (set === undefined) this.watchers.set(runId, (set = new Set()));
    set.add(watcher);
    this.count++;
    let closed = false;
    return {
      next: (timeoutMs) =>
        new Promise<void>((resolve) => {
          if (watcher.dirty || closed) {
            watcher.dirty = false;
            resolve();
            return;
          }
          const timer = setTimeout(done, Math.max(0, timeoutMs));
          function done(): void {
            clearTimeout(timer);
            watcher.wake = undefined;
            watcher.dirty = false;
            resolve();
          }
          watcher.wake = done;
        }),
      close: () => {
        if (closed) return;
        closed = true;
        watcher.wake?.();
        set.delete(watcher);
        if (set.size === 0) this.watchers.delete(runId);
        this.count--;
      },
    };
  }
}
