import type { ExecutorEvent } from "dagy";

/** A promise with its resolve/reject exposed, to hold a task until the test lets it go. */
export interface Gate<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function gate<T = void>(): Gate<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves once `predicate` holds, checking after each macrotask (no wall-clock waits). */
export async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`gave up waiting for ${what}`);
}

export function eventRecorder(): { events: ExecutorEvent[]; onEvent: (e: ExecutorEvent) => void } {
  const events: ExecutorEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

/** `event_type` plus `task_id` when there is one: "task_started:a". */
export function summarize(events: readonly ExecutorEvent[]): string[] {
  return events.map((e) =>
    e.task_id === undefined ? e.event_type : `${e.event_type}:${e.task_id}`,
  );
}
