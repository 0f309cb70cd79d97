/**
 * Shapes of the items stored in the four tables (snake_case, as the guide's models).
 * The models in this folder wrap them; the API returns run records almost verbatim.
 */
import type { FlowSpec, Json, TaskState } from "../sdk/types";
import type { RunStatus } from "./schema";

export interface FlowRecord {
  org_id: string;
  flow_name: string;
  flow_version: string;
  /** `flow_spec.json`, serialized (the guide's FlowModel.spec is a JSON string). */
  spec: string;
  artifact_s3_uri: string;
  artifact_sha256: string;
  /** Present when the version is semver, for ordering. */
  is_semver: boolean;
  registered_at: string;
  description?: string;
}

/** One ECS task (or local worker) of a run: a run takes one or more, under one run_id. */
export interface RunAttempt {
  /** 1-based. */
  attempt: number;
  task_arn: string;
  workload_profile?: string;
  cpu?: string;
  memory?: string;
  capacity_provider?: "FARGATE" | "FARGATE_SPOT";
  started_at: string;
  stopped_at?: string;
  stop_code?: string;
  exit_code?: number;
  reason?: string;
  /** What reconciliation made of the stop: `relaunched`, `failed`, `cancelled`. */
  outcome?: string;
  /** `warm`: handed to a pool worker that was already up; `cold` (or absent): a new worker. */
  start_mode?: "warm" | "cold";
}

/**
 * Where a succeeded task's output is kept, so a relaunched attempt or a re-run can read it back
 * instead of executing the task again. Small outputs are inline JSON text; larger ones are in S3.
 */
export interface TaskOutputRef {
  /** The output's JSON text (absent: the task returned nothing, or it is at `uri`). */
  json?: string;
  uri?: string;
  bytes: number;
  /** The first characters of the JSON, for the API and console. */
  preview?: string;
  /**
   * The output was not kept (too large, not JSON, or it contained a secret value that was
   * redacted): the task is executed again on resume.
   */
  not_kept?: string;
}

export type OomPolicy = "fail" | "scale_up";

export interface RunRecord {
  run_id: string;
  org_id: string;
  flow_name: string;
  flow_version: string;
  status: RunStatus;
  environment: string;
  deployment_name?: string;
  correlation_id: string;
  trigger_source: string;
  triggered_by?: string;
  /** Set on the child runs of an isolated map (`trigger_source` "map"): the run that launched it. */
  parent_run_id?: string;
  /** A child run of an isolated map runs only this mapped task... */
  map_task?: string;
  /** ...for these items of its list: `<first>-<last>`, inclusive. */
  map_items?: string;
  /** Inline parameters, or absent when spilled to `parameters_uri` (S3) because of size. */
  parameters?: Record<string, Json>;
  parameters_uri?: string;
  artifact_s3_uri: string;
  artifact_sha256: string;
  dep_package_uris: string[];
  /** Names (never values) of the secrets the run receives. */
  secret_names: string[];
  workload_profile?: string;
  cpu?: string;
  memory?: string;
  ephemeral_storage_gib?: number;
  capacity_provider?: "FARGATE" | "FARGATE_SPOT";
  extra_env_vars?: Record<string, string>;
  metadata?: Record<string, Json>;
  created_at: string;
  updated_at: string;
  started_at?: string | null;
  completed_at?: string | null;
  error_message?: string | null;
  traceback_uri?: string | null;
  task_arn?: string | null;
  /** CloudWatch Logs stream (or local log file) holding the run's JSON events. */
  log_stream?: string | null;
  task_states?: Record<string, TaskState>;
  cancel_requested?: boolean;
  exit_code?: number | null;
  stop_reason?: string | null;
  idempotency_key?: string;
  /**
   * Set when task_states could not hold every task within DynamoDB's 400 KB item limit; the
   * executor's JSON log lines remain the complete record.
   */
  task_states_truncated?: boolean;
  /** The run's ECS tasks, oldest first; the last is the current one. */
  attempts?: RunAttempt[];
  /** Relaunches allowed after infrastructure failures (capacity, Spot, start timeout, OOM). */
  max_relaunches?: number;
  /** Relaunches made so far. */
  relaunches?: number;
  /** `scale_up`: a run killed for memory is relaunched on the next larger workload profile. */
  oom_policy?: OomPolicy;
  /** Env name -> Secrets Manager ARN (ARNs, never values): a relaunch or re-run needs them. */
  secrets_env?: Record<string, string>;
  /** Outputs of succeeded tasks, by task id. */
  task_outputs?: Record<string, TaskOutputRef>;
  /** The run this one re-runs, and from where. */
  rerun_of?: string;
  rerun_from?: "start" | "failure";
  /** Runs that re-run this one, oldest first. */
  reruns?: string[];
}

export interface DeploymentRecord {
  org_id: string;
  deployment_name: string;
  environment: string;
  dep_package_slugs: string[];
  updated_at: string;
}

export interface DepPackageRecord {
  slug: string;
  org_id: string;
  package_s3_uri: string;
  version: string;
  sha256?: string;
  /** Other orgs allowed to use this package (the owner always may). `*` means every org. */
  shared_with?: string[];
  created_at: string;
}

export type { FlowSpec };
