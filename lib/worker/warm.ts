/**
 * Warm workers (issue #14): a worker that starts ahead of demand, loads the runtime and opens its
 * clients, then waits for exactly one assignment, runs it and exits. Isolation between runs stays
 * as strong as a cold start's: one process (one Fargate task) per run.
 *
 * An assignment is the run's WORKER_ENV variables — the same ones a cold worker gets as container
 * overrides (lib/launcher/worker-spec.ts) — so the worker parses it with `parseWorkerConfig` over
 * its own start-up environment. Delivery may repeat (SQS is at-least-once, an IPC message may be
 * re-sent): the run's conditional QUEUED -> RUNNING claim makes a duplicate a no-op, and the
 * worker that loses the claim takes the next assignment instead of exiting.
 *
 * Sources: `ipc` (LocalBackend's pool, lib/worker/ipc-assignments.ts) and `sqs` (a Fargate pool,
 * lib/worker/sqs-assignments.ts), chosen by DAGY_WARM_SOURCE (WARM_ENV in lib/config/env.ts).
 */

import type { RunRecord } from "../persistence/records";

/** One run handed to a warm worker. */
export interface Assignment {
  /** The run's WORKER_ENV variables (DAGY_RUN_ID, DAGY_ARTIFACT_URI, …) and its extra env. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Values of secret variables, when the source may carry them (the local pool resolves them as
   * ECS would). A Fargate pool carries none: a run with secrets is launched cold.
   */
  readonly secrets?: Readonly<Record<string, string>>;
  /**
   * The run as the pool already claimed it for this worker (QUEUED -> RUNNING, the same
   * conditional write a worker makes; the local pool, which holds this very worker for it, may
   * make it itself). The worker then runs it without claiming again.
   */
  readonly claimed?: RunRecord;
  /**
   * The assignment was taken (claimed, or found to be a duplicate): the source may forget it
   * (SQS: DeleteMessage). Never throws.
   */
  ack(): Promise<void>;
}

/** Where a warm worker waits for its run. */
export interface AssignmentSource {
  /**
   * Waits for the next assignment; undefined when the source closed (the pool is shutting down,
   * SIGTERM while idle) and the worker should exit without running anything.
   */
  next(signal: AbortSignal): Promise<Assignment | undefined>;
  /** The worker is loaded and waiting (the pool counts it as idle). Never throws. */
  ready(): Promise<void>;
  /** The worker leaves the pool without a run (SIGTERM while idle). Never throws. */
  leave(): Promise<void>;
}
