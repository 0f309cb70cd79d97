/**
 * The EventBridge "ECS Task State Change" event, reduced to what reconciliation needs.
 * Events carry no task tags, but they do carry the RunTask overrides, and Dagy puts the run id
 * in the worker's environment overrides (`DAGY_RUN_ID`): that ties a stopped task to its run.
 * When an event's overrides do not name it (AWS may drop them, e.g. from a task that never
 * started), the run is found by its current task ARN (the runs table's `by_task_arn` index).
 */
import { WORKER_ENV } from "../config/env";
import { WORKER_CONTAINER_NAME } from "../config/worker-container";
import { reconcileStoppedTask, type ReconcileDependencies } from "./service";
import type { ReconcileOutcome, StoppedTask } from "./types";

export interface EcsContainerDetail {
  readonly name?: string;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly lastStatus?: string;
}

/** The `detail` of an "ECS Task State Change" event: the fields Dagy reads. */
export interface EcsTaskDetail {
  readonly taskArn: string;
  readonly clusterArn?: string;
  readonly lastStatus: string;
  readonly desiredStatus?: string;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  readonly startedBy?: string;
  readonly containers?: readonly EcsContainerDetail[];
  readonly overrides?: {
    readonly containerOverrides?: ReadonlyArray<{
      readonly name?: string;
      readonly environment?: ReadonlyArray<{ readonly name?: string; readonly value?: string }>;
    }>;
  };
}

export interface EcsTaskStateChangeEvent {
  readonly "detail-type": "ECS Task State Change";
  readonly source: "aws.ecs";
  readonly detail: EcsTaskDetail;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * Reads an "ECS Task State Change" event. Lenient about fields it does not need (AWS adds
 * fields over time) and hand-written rather than a zod schema: this sits in the smallest
 * Lambda bundles. Returns the problem as a string when the event is not one.
 */
export function parseEcsTaskStateChange(event: unknown): EcsTaskStateChangeEvent | string {
  if (!isRecord(event)) return "event: must be an object";
  if (event["detail-type"] !== "ECS Task State Change") {
    return `detail-type: must be "ECS Task State Change", got ${JSON.stringify(event["detail-type"])}`;
  }
  if (event.source !== "aws.ecs") return `source: must be "aws.ecs"`;
  const detail = event.detail;
  if (!isRecord(detail)) return "detail: must be an object";
  if (typeof detail.taskArn !== "string") return "detail.taskArn: must be a string";
  if (typeof detail.lastStatus !== "string") return "detail.lastStatus: must be a string";
  const containers = Array.isArray(detail.containers)
    ? detail.containers.filter(isRecord).map((c): EcsContainerDetail => ({
        ...(typeof c.name === "string" ? { name: c.name } : {}),
        ...(typeof c.exitCode === "number" ? { exitCode: c.exitCode } : {}),
        ...(typeof c.reason === "string" ? { reason: c.reason } : {}),
        ...(typeof c.lastStatus === "string" ? { lastStatus: c.lastStatus } : {}),
      }))
    : undefined;
  const overrides = isRecord(detail.overrides) ? detail.overrides : undefined;
  const containerOverrides = Array.isArray(overrides?.containerOverrides)
    ? overrides.containerOverrides.filter(isRecord).map((o) => ({
        ...(typeof o.name === "string" ? { name: o.name } : {}),
        environment: Array.isArray(o.environment)
          ? o.environment
              .filter(isRecord)
              .map((e) => ({ name: optionalString(e.name), value: optionalString(e.value) }))
          : [],
      }))
    : undefined;
  const parsed: EcsTaskDetail = {
    taskArn: detail.taskArn,
    lastStatus: detail.lastStatus,
    ...(typeof detail.clusterArn === "string" ? { clusterArn: detail.clusterArn } : {}),
    ...(typeof detail.desiredStatus === "string" ? { desiredStatus: detail.desiredStatus } : {}),
    ...(typeof detail.stopCode === "string" ? { stopCode: detail.stopCode } : {}),
    ...(typeof detail.stoppedReason === "string" ? { stoppedReason: detail.stoppedReason } : {}),
    ...(typeof detail.startedBy === "string" ? { startedBy: detail.startedBy } : {}),
    ...(containers ? { containers } : {}),
    ...(containerOverrides ? { overrides: { containerOverrides } } : {}),
  };
  return { "detail-type": "ECS Task State Change", source: "aws.ecs", detail: parsed };
}

/** The worker container's name unless configured otherwise (the one definition is lib/config). */
export { WORKER_CONTAINER_NAME as DEFAULT_WORKER_CONTAINER };

/** The run id Dagy passed to the task, from the container environment overrides. */
export function runIdFromOverrides(detail: EcsTaskDetail): string | undefined {
  for (const override of detail.overrides?.containerOverrides ?? []) {
    const entry = override.environment?.find((e) => e.name === WORKER_ENV.runId);
    if (entry?.value) return entry.value;
  }
  return undefined;
}

/**
 * The stopped task, normalized; `undefined` when the event is not a STOPPED Dagy task (another
 * status, or a task Dagy did not start). The worker container's exit code and reason are
 * preferred; with no worker container, the first container that has any.
 */
export function stoppedTaskFromEcsDetail(
  detail: EcsTaskDetail,
  workerContainer: string = WORKER_CONTAINER_NAME,
  runIdByArn?: string,
): StoppedTask | undefined {
  if (detail.lastStatus !== "STOPPED") return undefined;
  const runId = runIdFromOverrides(detail) ?? runIdByArn;
  if (runId === undefined) return undefined;
  const containers = detail.containers ?? [];
  const worker =
    containers.find((c) => c.name === workerContainer) ??
    containers.find((c) => c.exitCode !== undefined || c.reason !== undefined);
  return {
    runId,
    taskArn: detail.taskArn,
    ...(detail.stopCode !== undefined ? { stopCode: detail.stopCode } : {}),
    ...(detail.stoppedReason !== undefined ? { stoppedReason: detail.stoppedReason } : {}),
    ...(worker?.exitCode !== undefined ? { exitCode: worker.exitCode } : {}),
    ...(worker?.reason !== undefined ? { containerReason: worker.reason } : {}),
  };
}

export type EcsEventOutcome =
  | ReconcileOutcome
  | { readonly action: "ignored"; readonly reason: string; readonly runId?: string };

/**
 * Handles one "ECS Task State Change" event: a STOPPED Dagy task whose run is still active is
 * reconciled; anything else is ignored (and said so). Malformed events are ignored, not thrown:
 * a retry would not make them valid.
 */
export async function reconcileEcsTaskEvent(
  event: unknown,
  deps: ReconcileDependencies & { readonly workerContainer?: string },
): Promise<EcsEventOutcome> {
  const parsed = parseEcsTaskStateChange(event);
  if (typeof parsed === "string") {
    deps.logger?.warn("not an ECS Task State Change event; ignored", { problem: parsed });
    return { action: "ignored", reason: `not an ECS Task State Change event (${parsed})` };
  }
  const detail = parsed.detail;
  if (detail.lastStatus !== "STOPPED") {
    return { action: "ignored", reason: `task is ${detail.lastStatus}, not STOPPED` };
  }
  const byArn =
    runIdFromOverrides(detail) === undefined && deps.runs.findByTaskArn
      ? (await deps.runs.findByTaskArn(detail.taskArn))?.run_id
      : undefined;
  const stopped = stoppedTaskFromEcsDetail(detail, deps.workerContainer, byArn);
  if (!stopped) {
    return {
      action: "ignored",
      reason: `task has no ${WORKER_ENV.runId} override and is no run's current task: not a Dagy run`,
    };
  }
  return reconcileStoppedTask(stopped, deps);
}
