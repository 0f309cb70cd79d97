/**
 * Response shaping: records and results to the snake_case bodies clients read. The guide's
 * fields come first and keep the guide's names; null (not absent) marks "not yet".
 */
import type { DagLaunchResult } from "../launcher/types";
import type {
  DeploymentRecord,
  DepPackageRecord,
  FlowRecord,
  RunRecord,
} from "../persistence/records";
import type { ScheduleView } from "../services/schedules";
import type { PresignedUpload } from "../storage/uploads";

export interface LogLink {
  readonly log_group: string | null;
  readonly log_stream: string | null;
  readonly console_url: string | null;
}

export interface ConsoleLinkOptions {
  readonly region?: string;
  readonly logGroup?: string;
}

/** CloudWatch console fragments escape `%` as `$25` after URI encoding (`/` -> `$252F`). */
function consoleEscape(value: string): string {
  return encodeURIComponent(value).replace(/%/g, "$25");
}

export function cloudWatchLogLink(run: RunRecord, options: ConsoleLinkOptions): LogLink {
  const logGroup = options.logGroup ?? null;
  const logStream = run.log_stream ?? null;
  const region = options.region;
  const consoleUrl =
    region && logGroup && logStream
      ? `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
        `#logsV2:log-groups/log-group/${consoleEscape(logGroup)}/log-events/${consoleEscape(logStream)}`
      : null;
  return { log_group: logGroup, log_stream: logStream, console_url: consoleUrl };
}

export function tracebackLink(
  run: RunRecord,
  region: string | undefined,
): { uri: string | null; console_url: string | null } {
  const uri = run.traceback_uri ?? null;
  const match = uri ? /^s3:\/\/([^/]+)\/(.+)$/.exec(uri) : null;
  const consoleUrl =
    match && region
      ? `https://${region}.console.aws.amazon.com/s3/object/${match[1] as string}` +
        `?region=${region}&prefix=${encodeURIComponent(match[2] as string)}`
      : null;
  return { uri, console_url: consoleUrl };
}

/** GET /runs items: the guide's six fields first, then the run without its (possibly large) task states. */
export function runSummary(run: RunRecord): Record<string, unknown> {
  return {
    run_id: run.run_id,
    flow_name: run.flow_name,
    status: run.status,
    started_at: run.started_at ?? null,
    completed_at: run.completed_at ?? null,
    error_message: run.error_message ?? null,
    flow_version: run.flow_version,
    org_id: run.org_id,
    environment: run.environment,
    correlation_id: run.correlation_id,
    trigger_source: run.trigger_source,
    parent_run_id: run.parent_run_id ?? null,
    map_task: run.map_task ?? null,
    map_items: run.map_items ?? null,
    created_at: run.created_at,
    updated_at: run.updated_at,
    task_arn: run.task_arn ?? null,
  };
}

/** GET /runs/{runId}: the summary, then everything else about the run and where to look. */
export function runBody(
  run: RunRecord,
  logs: LogLink,
  region: string | undefined,
): Record<string, unknown> {
  return {
    ...runSummary(run),
    deployment_name: run.deployment_name ?? null,
    triggered_by: run.triggered_by ?? null,
    task_states: run.task_states ?? {},
    cancel_requested: run.cancel_requested ?? false,
    exit_code: run.exit_code ?? null,
    stop_reason: run.stop_reason ?? null,
    traceback_uri: run.traceback_uri ?? null,
    attempts: run.attempts ?? [],
    relaunches: run.relaunches ?? 0,
    max_relaunches: run.max_relaunches ?? null,
    oom_policy: run.oom_policy ?? "fail",
    task_outputs: outputPreviews(run),
    rerun_of: run.rerun_of ?? null,
    rerun_from: run.rerun_from ?? null,
    reruns: run.reruns ?? [],
    logs,
    traceback: tracebackLink(run, region),
    // What the run was asked to do. Secrets by name only (their values never pass through
    // Dagy); extra environment variables by name only (a value may be a credential).
    parameters: run.parameters ?? null,
    parameters_uri: run.parameters_uri ?? null,
    resources: {
      workload_profile: run.workload_profile ?? null,
      cpu: run.cpu ?? null,
      memory: run.memory ?? null,
      ephemeral_storage_gib: run.ephemeral_storage_gib ?? null,
      capacity_provider: run.capacity_provider ?? null,
    },
    secret_names: run.secret_names,
    extra_env_var_names: Object.keys(run.extra_env_vars ?? {}).sort(),
    metadata: run.metadata ?? {},
    dep_package_uris: run.dep_package_uris,
    artifact_sha256: run.artifact_sha256,
  };
}

const PREVIEW_CHARS = 200;

/** Each kept output as a preview: its size, where it is, and its first characters. */
function outputPreviews(run: RunRecord): Record<string, unknown> {
  const previews: Record<string, unknown> = {};
  for (const [taskId, ref] of Object.entries(run.task_outputs ?? {})) {
    const text = ref.preview ?? ref.json ?? null;
    previews[taskId] = {
      bytes: ref.bytes,
      stored: ref.not_kept !== undefined ? "not_kept" : ref.uri !== undefined ? "s3" : "inline",
      preview:
        text !== null && text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text,
      ...(ref.not_kept !== undefined ? { not_kept: ref.not_kept } : {}),
    };
  }
  return previews;
}

/** POST /flows/{flowName}/runs: exactly the guide's keys, plus `error` when not submitted. */
export function launchBody(result: DagLaunchResult): Record<string, unknown> {
  return {
    run_id: result.runId,
    task_arn: result.taskArn ?? null,
    success: result.success,
    ...(result.success ? {} : { error: result.errorMessage ?? "Launch failed" }),
  };
}

export function batchItemBody(result: DagLaunchResult): Record<string, unknown> {
  return {
    // "" when nothing was written (unknown flow, ...): null says "no run" plainly.
    run_id: result.runId || null,
    flow_name: result.flowName,
    task_arn: result.taskArn ?? null,
    success: result.success,
    correlation_id: result.correlationId,
    // `unavailable` with no run_id: not attempted within the batch's time budget; send it again.
    ...(result.success
      ? {}
      : {
          error: result.errorMessage ?? "Launch failed",
          ...(result.errorCode !== undefined ? { error_code: result.errorCode } : {}),
        }),
  };
}

export function flowVersionBody(flow: FlowRecord): Record<string, unknown> {
  return {
    flow_name: flow.flow_name,
    flow_version: flow.flow_version,
    registered_at: flow.registered_at,
    artifact_s3_uri: flow.artifact_s3_uri,
    artifact_sha256: flow.artifact_sha256,
    is_semver: flow.is_semver,
    description: flow.description ?? null,
  };
}

export function scheduleBody(schedule: ScheduleView): Record<string, unknown> {
  const { action: _action, flow_name, org_id, ...launch } = schedule.input;
  return {
    name: schedule.name,
    org_id,
    flow_name,
    expression: schedule.expression,
    time_zone: schedule.timeZone ?? "UTC",
    enabled: schedule.enabled,
    description: schedule.description ?? null,
    launch,
    resource_name: schedule.resourceName,
    kind: schedule.kind,
    next_fire_at: schedule.nextFireAt ?? null,
    last_firing: schedule.lastFiring
      ? {
          run_id: schedule.lastFiring.runId,
          status: schedule.lastFiring.status,
          at: schedule.lastFiring.at,
          error: schedule.lastFiring.error ?? null,
        }
      : null,
  };
}

export function uploadBody(upload: PresignedUpload): Record<string, unknown> {
  return {
    upload_id: upload.uploadId,
    upload_url: upload.url,
    upload_headers: upload.headers,
    expires_at: upload.expiresAt,
  };
}

export function packageBody(pkg: DepPackageRecord): Record<string, unknown> {
  return {
    name: pkg.slug,
    org_id: pkg.org_id,
    version: pkg.version,
    package_s3_uri: pkg.package_s3_uri,
    sha256: pkg.sha256 ?? null,
    shared_with: pkg.shared_with ?? [],
    created_at: pkg.created_at,
  };
}

export function deploymentBody(deployment: DeploymentRecord): Record<string, unknown> {
  return {
    name: deployment.deployment_name,
    org_id: deployment.org_id,
    environment: deployment.environment,
    packages: deployment.dep_package_slugs,
    updated_at: deployment.updated_at,
  };
}
