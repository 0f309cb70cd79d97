/**
 * The pure parts of relaunching and re-running a run: an attempt's record, the worker spec of
 * the next attempt (the same environment as the first, the resources reconciliation chose), and
 * the launch request and seed of a re-run. DagLauncher does the I/O.
 */
import type { RunAttempt, RunRecord } from "../persistence/records";
import type { Json } from "../sdk/types";
import type { RerunSeed } from "./run-record";
import type {
  CapacityProvider,
  DagLaunchRequest,
  StartMode,
  WorkerLaunchSpec,
  WorkloadProfile,
} from "./types";
import { buildWorkerEnvironment } from "./worker-spec";

/** The resources of one attempt: what a relaunch may change (bigger profile, on-demand). */
export interface AttemptResources {
  readonly workloadProfile?: WorkloadProfile;
  readonly cpu: string;
  readonly memory: string;
  readonly capacityProvider: CapacityProvider;
}

export function attemptRecord(
  taskArn: string,
  attempt: number,
  resources: AttemptResources,
  now: Date,
  startMode?: StartMode,
): RunAttempt {
  return {
    attempt,
    task_arn: taskArn,
    ...(startMode !== undefined ? { start_mode: startMode } : {}),
    ...(resources.workloadProfile !== undefined
      ? { workload_profile: resources.workloadProfile }
      : {}),
    cpu: resources.cpu,
    memory: resources.memory,
    capacity_provider: resources.capacityProvider,
    started_at: now.toISOString(),
  };
}

/** Where the worker reports: the launcher's own settings. */
export interface WorkerReporting {
  readonly runsTable: string;
  readonly tracesBucket: string;
  readonly logGroup?: string;
  readonly region?: string;
}

/** The next attempt's worker spec: the run's own environment, the resources given. */
export function relaunchSpec(
  run: RunRecord,
  next: AttemptResources,
  attempt: number,
  reporting: WorkerReporting,
): WorkerLaunchSpec {
  const environment = buildWorkerEnvironment({
    runId: run.run_id,
    orgId: run.org_id,
    flowName: run.flow_name,
    flowVersion: run.flow_version,
    artifactUri: run.artifact_s3_uri,
    artifactSha256: run.artifact_sha256,
    environment: run.environment,
    correlationId: run.correlation_id,
    depPackageUris: run.dep_package_uris,
    secretNames: run.secret_names,
    ...reporting,
    // The record holds the parameters (or where they were spilled): the worker reads them there.
    ...(run.parameters_uri !== undefined
      ? { parametersUri: run.parameters_uri }
      : { parametersInRun: true as const }),
    ...(run.extra_env_vars !== undefined ? { extraEnvVars: run.extra_env_vars } : {}),
  });
  return {
    runId: run.run_id,
    orgId: run.org_id,
    flowName: run.flow_name,
    environment,
    cpu: next.cpu,
    memory: next.memory,
    ephemeralStorageGib: run.ephemeral_storage_gib ?? 21,
    capacityProvider: next.capacityProvider,
    secretsEnv: run.secrets_env ?? {},
    attempt,
    ...(next.workloadProfile !== undefined ? { workloadProfile: next.workloadProfile } : {}),
  };
}

/** A new run of the same flow version, parameters and size as `source`. */
export function rerunRequest(
  source: RunRecord,
  parameters: Record<string, Json>,
  overrides: Pick<DagLaunchRequest, "triggerSource" | "triggeredBy">,
): DagLaunchRequest {
  return {
    flowName: source.flow_name,
    orgId: source.org_id,
    flowVersion: source.flow_version,
    parameters,
    environment: source.environment,
    ...(source.deployment_name ? { deploymentName: source.deployment_name } : {}),
    ...(source.workload_profile !== undefined
      ? { workloadProfile: source.workload_profile as WorkloadProfile }
      : { cpu: source.cpu, memory: source.memory }),
    ...(source.ephemeral_storage_gib !== undefined
      ? { ephemeralStorageGib: source.ephemeral_storage_gib }
      : {}),
    ...(source.capacity_provider !== undefined
      ? { capacityProvider: source.capacity_provider }
      : {}),
    ...(source.extra_env_vars !== undefined ? { extraEnvVars: source.extra_env_vars } : {}),
    ...(source.secrets_env !== undefined ? { secretsEnv: source.secrets_env } : {}),
    ...(source.max_relaunches !== undefined ? { maxRelaunches: source.max_relaunches } : {}),
    ...(source.oom_policy !== undefined ? { oomPolicy: source.oom_policy } : {}),
    metadata: source.metadata ?? {},
    triggerSource: overrides.triggerSource ?? "rerun",
    ...(overrides.triggeredBy !== undefined ? { triggeredBy: overrides.triggeredBy } : {}),
  };
}

/** What a re-run starts from: from `failure`, the source's succeeded tasks and kept outputs. */
export function rerunSeed(source: RunRecord, from: "start" | "failure"): RerunSeed {
  const seed: RerunSeed = { of: source.run_id, from };
  if (from === "start") return seed;
  const states: NonNullable<RerunSeed["taskStates"]> = {};
  const outputs: NonNullable<RerunSeed["taskOutputs"]> = {};
  for (const [taskId, state] of Object.entries(source.task_states ?? {})) {
    const output = source.task_outputs?.[taskId];
    if (state.status !== "SUCCEEDED" || output === undefined || output.not_kept) continue;
    states[taskId] = state;
    outputs[taskId] = output;
  }
  return { ...seed, taskStates: states, taskOutputs: outputs };
}
