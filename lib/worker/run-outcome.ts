/**
 * What a worker run ends with: its exit codes, the outcome the host returns, the run store it
 * writes through, and the start-failure write for a worker that could not read its config.
 * Re-exported by ./run-host.ts.
 */
import type { RunAttempt, RunRecord, TaskOutputRef } from "../persistence/records";
import type { RunListQuery, RunPage } from "../persistence/run-queries";
import type { TransitionOptions } from "../persistence/runs";
import type { RunStatus } from "../persistence/schema";
import type { TaskState } from "../sdk/types";

/**
 * Process exit codes. ECS shows them as the container's exit code; the task-events
 * reconciler reads them when a run was left open.
 */
export const EXIT_CODES = {
  /** The run SUCCEEDED. */
  succeeded: 0,
  /** The run FAILED because a task failed. */
  flowFailed: 1,
  /**
   * The worker could not run the flow: bad configuration, artifact checksum mismatch, unsafe
   * or broken dependency package, invalid parameters, an uncaught error, DynamoDB or S3
   * unreachable. The run is recorded FAILED with the reason whenever it can be reached.
   */
  workerError: 2,
  /** The run was CANCELLED (a cancel was requested, before or during the run). */
  cancelled: 3,
  /**
   * The worker was stopped (SIGTERM) without a cancel request: Spot interruption, StopTask. The
   * run is left RUNNING for reconciliation to relaunch or end.
   */
  interrupted: 4,
  /** The run was not QUEUED (already terminal, or claimed by another worker): nothing was done. */
  notRun: 5,
} as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export const SIGTERM_REASON =
  "worker received SIGTERM (task stopped: Spot interruption or StopTask)";

export const MAX_ERROR_MESSAGE = 4000;

/** The run operations the worker needs (`Persistence#runs` fits). */
export interface WorkerRunStore {
  get(runId: string): Promise<RunRecord | undefined>;
  transition(
    runId: string,
    from: RunStatus,
    to: RunStatus,
    fields?: Partial<RunRecord>,
    options?: TransitionOptions,
  ): Promise<RunRecord | undefined>;
  mergeTaskStates(runId: string, states: Record<string, TaskState>): Promise<unknown>;
  recordTaskOutputs(runId: string, outputs: Record<string, TaskOutputRef>): Promise<unknown>;
  /** Lists a run's children (`parentRunId`); needed by isolated maps. */
  list?(query: RunListQuery): Promise<RunPage>;
}

/** How this worker came to run its run (recorded on the attempt as `start_mode`). */
export type StartMode = NonNullable<RunAttempt["start_mode"]>;

export interface WorkerOutcome {
  readonly exitCode: ExitCode;
  /** The run's status when the worker left it (undefined when it could not be read). */
  readonly status?: RunStatus;
  readonly errorMessage?: string;
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The worker could not even read its configuration: close the run (still QUEUED, never
 * claimed) as FAILED with the reason. Returns false when the run was not QUEUED.
 */
export async function recordStartFailure(
  runs: Pick<WorkerRunStore, "transition">,
  runId: string,
  errorMessage: string,
): Promise<boolean> {
  const updated = await runs.transition(runId, "QUEUED", "FAILED", {
    error_message: errorMessage.slice(0, MAX_ERROR_MESSAGE),
    exit_code: EXIT_CODES.workerError,
  });
  return updated !== undefined;
}
