/**
 * A warm worker's life (DAGY_WARM_SOURCE set): loaded and waiting, then exactly one run.
 *
 * The start-up environment holds only platform variables (tables, buckets, region, endpoints).
 * Each assignment's variables are laid over it — in `process.env` too, so task code sees the
 * run's extra variables as a cold worker's would (one run per process makes that safe) — and the
 * run proceeds exactly as a cold worker's. An assignment whose run is not QUEUED (a duplicate
 * delivery, a run cancelled before its claim) is acknowledged and the worker waits for the next
 * instead of exiting, its environment restored: the conditional claim makes delivery
 * exactly-once in effect. SIGTERM or SIGINT while idle: leave the pool and exit 0.
 */
import type { Assignment, AssignmentSource } from "./warm";

/** What became of one assignment. */
export interface AssignmentOutcome {
  readonly exitCode: number;
  /** True when this worker claimed the run (QUEUED -> RUNNING): it ran, and the worker exits. */
  readonly claimed: boolean;
}

export interface WarmWorkerDeps {
  readonly source: AssignmentSource;
  /** Runs one assignment whose variables are already in `env` (process.env). */
  readonly run: (assignment: Assignment) => Promise<AssignmentOutcome>;
  /** Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where SIGTERM/SIGINT come from. Default: process. */
  readonly signals?: Pick<NodeJS.Process, "once" | "off">;
  /** A line for the log when an assignment is released (not this worker's run). */
  readonly onReleased?: (runId: string | undefined, exitCode: number) => void;
}

/** Exit codes of a run that was not this worker's to run (EXIT_CODES: cancelled, notRun). */
const NOT_OURS = new Set([3, 5]);

/** Waits for assignments until one is run; returns the process's exit code. */
export async function serveAssignments(deps: WarmWorkerDeps): Promise<number> {
  const env = deps.env ?? process.env;
  const signals = deps.signals ?? process;
  await deps.source.ready();
  for (;;) {
    const idle = new AbortController();
    const onSignal = (): void => idle.abort();
    signals.once("SIGTERM", onSignal);
    signals.once("SIGINT", onSignal);
    let assignment: Assignment | undefined;
    try {
      assignment = await deps.source.next(idle.signal);
    } finally {
      signals.off("SIGTERM", onSignal);
      signals.off("SIGINT", onSignal);
    }
    if (assignment === undefined) {
      await deps.source.leave();
      return 0;
    }
    const taken = ackOnce(assignment);
    const restore = applyAssignment(env, taken);
    const outcome = await deps.run(taken);
    if (outcome.claimed || !NOT_OURS.has(outcome.exitCode)) {
      // Acknowledged at the claim already, unless the run never got that far.
      await taken.ack();
      return outcome.exitCode;
    }
    await taken.ack();
    deps.onReleased?.(taken.env.DAGY_RUN_ID, outcome.exitCode);
    restore();
    await deps.source.ready();
  }
}

/** The same assignment, whose `ack` reaches the source once however often it is called. */
function ackOnce(assignment: Assignment): Assignment {
  let acked: Promise<void> | undefined;
  return {
    env: assignment.env,
    ...(assignment.secrets !== undefined ? { secrets: assignment.secrets } : {}),
    ...(assignment.claimed !== undefined ? { claimed: assignment.claimed } : {}),
    ack: () => (acked ??= assignment.ack().catch(() => undefined)),
  };
}

/** Lays the assignment's variables and secrets over `env`; returns the undo. */
export function applyAssignment(env: NodeJS.ProcessEnv, assignment: Assignment): () => void {
  const before = new Map<string, string | undefined>();
  const values = { ...assignment.env, ...(assignment.secrets ?? {}) };
  for (const [name, value] of Object.entries(values)) {
    if (!before.has(name)) before.set(name, env[name]);
    env[name] = value;
  }
  return () => {
    for (const [name, value] of before) {
      if (value === undefined) delete env[name];
      else env[name] = value;
    }
  };
}
