/**
 * A run in the local backend (./local-backend.ts): what its worker is started with, and where it
 * stands — queued, placed (holding a slot, perhaps a warm worker), stopped or given back.
 */
import type { RunRecord } from "../persistence/records";
import type { WarmWorker } from "./local-warm-pool";
import type { StartMode, WorkerLaunchSpec } from "./types";

export interface Job {
  readonly spec: WorkerLaunchSpec;
  /** The worker's variables: platform ones, the run's, the heap limit. Secrets apart. */
  readonly env: Record<string, string>;
  readonly secrets: Record<string, string>;
  readonly taskArn: string;
  /** Set once the job leaves the queue. */
  mode?: StartMode;
  /** It waited for a slot: it may wait for a starting warm worker too (see LocalBackend.pump). */
  backlog?: boolean;
  /** Placed: the warm worker held for it (see LocalBackend.place). */
  worker?: WarmWorker;
  /** Placed, then stopped (a cancel) before the launcher started it: it never starts. */
  stopped?: boolean;
  /** Placed on a warm worker and written RUNNING for it: the record it is handed. */
  claimed?: RunRecord;
  /** Placed, then given back: it never starts. */
  abandoned?: boolean;
}
