/**
 * Task-state reconciliation: a run whose worker died without recording an outcome is closed
 * here — from ECS task events, from the periodic sweep, and (locally) from a dead child process.
 */
import type { RunRecord } from "../persistence/records";
import type { RunStatus } from "../persistence/schema";
import type { CapacityProvider, WorkloadProfile } from "../launcher/types";

/** A worker that stopped, normalized from an ECS event, DescribeTasks or a local child exit. */
export interface StoppedTask {
  readonly runId: string;
  /** ECS task ARN (or the local backend's id). */
  readonly taskArn: string;
  /** ECS stop code: EssentialContainerExited, TaskFailedToStart, SpotInterruption, UserInitiated, ServiceSchedulerInitiated, … */
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  /** The worker container's exit code; absent when it never started. */
  readonly exitCode?: number;
  /** The worker container's own reason, e.g. "OutOfMemoryError: Container killed due to memory usage". */
  readonly containerReason?: string;
  /** The task no longer exists (DescribeTasks MISSING): it stopped long enough ago to be forgotten. */
  readonly missing?: boolean;
}

export type ReconcileAction =
  /** The run was closed as FAILED. */
  | "failed"
  /** The infrastructure stopped the attempt: the run is back in the queue on a new task. */
  | "relaunched"
  /** The run was closed as CANCELLED (a cancel had been requested). */
  | "cancelled"
  /** The worker had already recorded a terminal status: nothing to do. */
  | "already_terminal"
  /** The event is about another task than the run's current one. */
  | "other_task"
  /** No such run. */
  | "unknown_run";

export interface ReconcileOutcome {
  readonly runId: string;
  readonly action: ReconcileAction;
  /** The run's status after reconciliation (absent for unknown runs). */
  readonly status?: RunStatus;
  /** The error message written, for failed/cancelled runs. */
  readonly errorMessage?: string;
  /** Relaunched: why, and the new attempt's task. */
  readonly cause?: string;
  readonly taskArn?: string;
}

/** What a compute backend reports about a task. */
export type TaskObservation =
  | {
      readonly state: "active";
      readonly lastStatus: string;
      /** When ECS created the task (ISO): a task PENDING too long is stopped and relaunched. */
      readonly createdAt?: string;
    }
  | {
      readonly state: "stopped";
      readonly stopCode?: string;
      readonly stoppedReason?: string;
      readonly exitCode?: number;
      readonly containerReason?: string;
    }
  | { readonly state: "missing"; readonly reason: string };

/** Looks tasks up in the compute backend (ECS DescribeTasks, or local child processes). */
export interface TaskInspector {
  /** One observation per task id it could answer for; ids absent from the map are left alone. */
  describe(taskArns: readonly string[]): Promise<Map<string, TaskObservation>>;
  /** Whether this inspector can tell anything about the id (e.g. ECS ARNs vs `local:` ids). */
  owns(taskArn: string): boolean;
  /** Stops a task (ECS StopTask); needed to act on a task stuck PENDING. */
  stop?(taskArn: string, reason: string): Promise<void>;
}

export interface SweepReport {
  /** Stale active runs examined. */
  readonly examined: number;
  readonly outcomes: readonly ReconcileOutcome[];
}

/** The resources of a run's next attempt (the same, or changed by a heal decision). */
export interface NextAttempt {
  readonly workloadProfile?: WorkloadProfile;
  readonly cpu: string;
  readonly memory: string;
  readonly capacityProvider: CapacityProvider;
}

/**
 * Starts the next attempt of a run reconciliation put back in the queue (DagLauncher#relaunch
 * fits). It records the attempt; it throws when the backend cannot start the task.
 */
export type RelaunchRun = (
  run: RunRecord,
  next: NextAttempt,
) => Promise<{ readonly taskArn: string }>;
