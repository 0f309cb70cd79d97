import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  /** Fetches again now (e.g. after an action). */
  readonly refresh: () => void;
}

/**
 * Loads `fetcher()` when `deps` change, then again every `intervalMs(data)` milliseconds while
 * that returns a number (`undefined` stops polling, e.g. once a run is finished). Requests never
 * overlap, and answers for old `deps` are dropped.
 */
export function usePolled<T>(
  fetcher: () => Promise<T>,
  deps: readonly unknown[],
  intervalMs: (data: T | undefined) => number | undefined = () => undefined,
): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({
    loading: true,
  });
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const intervalRef = useRef(intervalMs);
  intervalRef.current = intervalMs;
  const generation = useRef(0);
  const timer = useRef<number | undefined>(undefined);

  // One request at a time per generation: a refresh during a request runs right after it.
  const inFlight = useRef<number | undefined>(undefined);
  const again = useRef(false);

  const run = useCallback((gen: number) => {
    window.clearTimeout(timer.current);
    if (inFlight.current === gen) {
      again.current = true;
      return;
    }
    inFlight.current = gen;
    again.current = false;
    const settle = (next: number | undefined) => {
      inFlight.current = undefined;
      if (again.current) run(gen);
      else if (next !== undefined) timer.current = window.setTimeout(() => run(gen), next);
    };
    fetcherRef.current().then(
      (data) => {
        if (gen !== generation.current) return;
        setState({ data, loading: false });
        settle(intervalRef.current(data));
      },
      (error: unknown) => {
        if (gen !== generation.current) return;
        setState((s) => ({ ...s, error: error as Error, loading: false }));
        // Keep trying while polling, more slowly: the platform may be restarting.
        const next = intervalRef.current(undefined);
        settle(next === undefined ? undefined : next * 2);
      },
    );
  }, []);

  useEffect(() => {
    const gen = ++generation.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    run(gen);
    return () => {
      generation.current++;
      window.clearTimeout(timer.current);
    };
    // The caller lists what the fetcher depends on, as with useEffect.
  }, deps);

  const refresh = useCallback(() => run(generation.current), [run]);
  return { data: state.data, error: state.error, loading: state.loading, refresh };
}

/** A clock that ticks every `ms` while `active`, for live durations. */
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const id = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(id);
  }, [active, ms]);
  return now;
}
