/**
 * The error message a user reads on a run whose worker stopped without recording an outcome.
 * It says what happened in plain words first, then ECS's own words, so the fix is obvious:
 * more memory, a pullable image, a retry after a Spot interruption.
 */
import type { StoppedTask } from "./types";

const OOM_PATTERN = /OutOfMemory/i;
const PULL_PATTERN = /CannotPullContainer|pull image|ResourceInitializationError/i;

function detail(task: StoppedTask): string {
  const parts: string[] = [];
  if (task.stopCode) parts.push(`stop code ${task.stopCode}`);
  if (task.exitCode !== undefined) parts.push(`exit code ${task.exitCode}`);
  const reasons = [task.containerReason, task.stoppedReason].filter(
    (r): r is string => typeof r === "string" && r !== "",
  );
  const unique = [...new Set(reasons)];
  return [...parts, ...unique].join("; ");
}

function withDetail(summary: string, task: StoppedTask): string {
  const extra = detail(task);
  return extra ? `${summary} (${extra})` : summary;
}

/** Message for a run whose task stopped and the run was not cancelled. */
export function failureMessage(task: StoppedTask): string {
  const reasons = `${task.containerReason ?? ""} ${task.stoppedReason ?? ""}`;
  if (task.missing) {
    return withDetail(
      `Worker task ${task.taskArn} no longer exists in ECS; it stopped without recording an outcome`,
      task,
    );
  }
  if (OOM_PATTERN.test(reasons)) {
    return withDetail(
      "Worker ran out of memory and was killed; launch with a larger workload_profile or memory",
      task,
    );
  }
  if (PULL_PATTERN.test(reasons)) {
    return withDetail(
      "Worker container could not start: the image could not be pulled or the task could not be initialized",
      task,
    );
  }
  if (task.stopCode === "SpotInterruption") {
    return withDetail(
      "Worker was interrupted: Fargate Spot reclaimed the capacity; launch again or use capacity_provider FARGATE",
      task,
    );
  }
  if (task.stopCode === "StartTimeout") {
    return withDetail("Worker task did not start in time and was stopped", task);
  }
  if (task.stopCode === "TaskFailedToStart") {
    return withDetail("Worker task failed to start", task);
  }
  if (task.exitCode === 0) {
    return withDetail("Worker exited without recording an outcome", task);
  }
  if (task.exitCode === 4) {
    return withDetail("Worker was stopped (SIGTERM) before it finished", task);
  }
  if (task.exitCode === 137) {
    return withDetail("Worker was killed (SIGKILL) before recording an outcome", task);
  }
  if (task.exitCode !== undefined) {
    return withDetail(`Worker exited with code ${task.exitCode} before recording an outcome`, task);
  }
  if (task.stopCode === "UserInitiated" || task.stopCode === "ServiceSchedulerInitiated") {
    return withDetail("Worker task was stopped outside Dagy", task);
  }
  return withDetail("Worker task stopped without recording an outcome", task);
}

/** Message for a run closed as CANCELLED after its task stopped. */
export function cancelledMessage(task: StoppedTask): string {
  return withDetail("Run cancelled; worker task stopped", task);
}

/** The short stop reason stored on the run (`stop_reason`). */
export function stopReason(task: StoppedTask): string {
  if (task.missing) return "MISSING";
  return [task.stopCode, task.containerReason ?? task.stoppedReason].filter(Boolean).join(": ");
}
