/**
 * The launch request and result (the guide's DagLaunchRequest / DagLaunchResult, in camelCase;
 * the HTTP API and launch events use the snake_case names) and the compute backend seam.
 */
import type { ErrorCode } from "../errors";
import type { RunRecord } from "../persistence/records";
import type { Json } from "../sdk/types";

export const WORKLOAD_PROFILES = {
  small: { cpu: "256", memory: "512" },
  medium: { cpu: "1024", memory: "2048" },
  large: { cpu: "2048", memory: "4096" },
  xlarge: { cpu: "4096", memory: "8192" },
  heavy: { cpu: "8192", memory: "16384" },
  max: { cpu: "16384", memory: "32768" },
} as const;
export type WorkloadProfile = keyof typeof WORKLOAD_PROFILES;

export type CapacityProvider = "FARGATE" | "FARGATE_SPOT";

export interface DagLaunchRequest {
  flowName: string;
  orgId: string;
  /** Default `latest`: the highest semantic version registered. */
  flowVersion?: string;
  parameters?: Record<string, Json>;
  environment?: string;
  deploymentName?: string;
  correlationId?: string;
  /** Default `lambda`. */
  triggerSource?: string;
  triggeredBy?: string;
  workloadProfile?: WorkloadProfile;
  cpu?: string;
  memory?: string;
  ephemeralStorageGib?: number;
  capacityProvider?: CapacityProvider;
  /**
   * Relaunches allowed after infrastructure failures (no capacity, Spot interruption, a task
   * stuck PENDING, out of memory with `oomPolicy: "scale_up"`). Default: the stack's, else 2.
   */
  maxRelaunches?: number;
  /** `scale_up`: relaunch a run killed for memory on the next larger profile. Default: the flow's, else `fail`. */
  oomPolicy?: "fail" | "scale_up";
  extraEnvVars?: Record<string, string>;
  /** Env name -> Secrets Manager ARN; injected by ECS, values never pass through Dagy. */
  secretsEnv?: Record<string, string>;
  metadata?: Record<string, Json>;
  /** Same key, same org, within 24 hours: the first launch's result is returned. */
  idempotencyKey?: string;
  /** A child run of an isolated map: the run whose worker launched it (same org, active). */
  parentRunId?: string;
  /** With `parentRunId`: the mapped task the child runs (and nothing else)... */
  mapTask?: string;
  /** ...for items `<first>-<last>` (inclusive) of the parent's list. */
  mapItems?: string;
}

export interface DagLaunchResult {
  readonly success: boolean;
  readonly runId: string;
  readonly flowName: string;
  readonly taskArn?: string;
  readonly correlationId: string;
  readonly errorMessage?: string;
  readonly metadata: Record<string, Json>;
  /**
   * Class name of the typed error behind a failure (`FlowNotFoundError`,
   * `DeploymentNotFoundError`, `TaskSubmissionError`, ...), so edges can map it to a status code.
   */
  readonly errorCode?: ErrorCode;
  /** True when this is the stored result of an earlier launch with the same idempotency key. */
  readonly replayed?: boolean;
}

/** What a backend needs to start one worker for one run. */
export interface WorkerLaunchSpec {
  readonly runId: string;
  readonly orgId: string;
  readonly flowName: string;
  /**
   * Container environment: all `DAGY_*` worker variables and the extra env. Upper-cased
   * parameter variables are derived by the worker itself (it keeps the overrides small).
   */
  readonly environment: Record<string, string>;
  readonly cpu: string;
  readonly memory: string;
  /** False: cpu/memory are the task definition's own; RunTask sends no size override. */
  readonly overrideSize?: boolean;
  readonly ephemeralStorageGib: number;
  readonly capacityProvider: CapacityProvider;
  /** Env name -> secret ARN. */
  readonly secretsEnv: Record<string, string>;
  /** 1-based attempt of the run this worker is (relaunches are 2, 3, ...). Default 1. */
  readonly attempt?: number;
  /** Workload profile the cpu/memory came from, when one did (recorded on the attempt). */
  readonly workloadProfile?: WorkloadProfile;
}

/** Default relaunches after infrastructure failures. */
export const DEFAULT_MAX_RELAUNCHES = 2;
/** The most relaunches a request or a stack may allow. */
export const MAX_RELAUNCHES_LIMIT = 10;

export interface SubmitResult {
  /** ECS task ARN, or `local:<runId>` for LocalBackend. */
  readonly taskArn: string;
  /** Where the run's output goes, when the backend knows (LocalBackend: the log file path). */
  readonly logStream?: string;
  /**
   * `warm`: the run was handed to a worker that was already up (a warm pool's); `cold` or
   * unset: a new worker was started for it. Recorded on the attempt (`start_mode`).
   */
  readonly startMode?: StartMode;
}

/** How an attempt's worker came to run it (issue #14). */
export type StartMode = "warm" | "cold";

/** How long a submission may take, when its caller has a budget (a batch inside one request). */
export interface SubmitOptions {
  /** Epoch ms: retries that would end past it are not started; the submission fails instead. */
  readonly deadline?: number;
}

/**
 * Where a backend has decided a spec will run, before the run is written: its task id (and how
 * it will start, when that is already settled). The launcher writes the run QUEUED with this as
 * its first attempt, then starts it: nothing is written after the start, so a fast worker's
 * claim never waits behind the launcher's own write (issue #14).
 */
export interface Placement extends SubmitResult {
  /**
   * True when the placed worker is held for this run alone and starts only from `start`
   * (LocalBackend's idle warm worker): the launcher then writes the run already claimed for it
   * (RUNNING from its creation, its attempt recorded) and hands `start` that record, so the
   * worker runs at once, without its claim's round trip, and the run costs one write less.
   */
  readonly startsClaimed?: boolean;
  /**
   * Starts the worker as placed. `claimed`: the run as written RUNNING for it (`startsClaimed`),
   * which the worker adopts instead of claiming. Throws as `submit` does.
   */
  start(claimed?: RunRecord): Promise<void>;
  /** The run will not start (its write failed, or a launch step after it): give back what was held. */
  abandon(): void;
}

export interface ComputeBackend {
  /** Starts the worker. Throws on failure (with a message a user can act on). */
  submit(spec: WorkerLaunchSpec, options?: SubmitOptions): Promise<SubmitResult>;
  /**
   * Optional: decide now where `spec` will run, and start it later (`Placement.start`). Only a
   * backend that knows the task id before starting it offers this (LocalBackend: `local:<runId>`;
   * ECS learns the ARN from RunTask). Throws as `submit` would; the launcher then submits.
   */
  place?(spec: WorkerLaunchSpec, options?: SubmitOptions): Placement;
  /** Stops the worker (SIGTERM, then SIGKILL after a grace period). */
  stop(taskArn: string, reason: string): Promise<void>;
}
