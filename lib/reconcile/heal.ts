/**
 * What a stopped attempt means for its run: the flow's failure (the worker recorded it, or the
 * worker itself broke) ends the run; the infrastructure's — no capacity, a Spot reclaim, a task
 * stuck PENDING, an image pull hiccup, and (with `oom_policy: "scale_up"`) running out of
 * memory — relaunches it, a bounded number of times. Pure functions: the service applies them.
 */
import { DEFAULT_MAX_RELAUNCHES, WORKLOAD_PROFILES, type WorkloadProfile } from "../launcher/types";
import type { RunAttempt, RunRecord } from "../persistence/records";
import type { NextAttempt, StoppedTask } from "./types";

export type { NextAttempt } from "./types";

export { DEFAULT_MAX_RELAUNCHES };
/** Spot interruptions of one run after which its next attempt runs on on-demand FARGATE. */
export const SPOT_FALLBACK_AFTER = 2;
/** A task PENDING (or PROVISIONING) this long is stopped and its run relaunched. */
export const DEFAULT_START_TIMEOUT_MS = 10 * 60_000;

/** Stop code reconciliation gives a task it stopped for staying PENDING too long. */
export const START_TIMEOUT_STOP_CODE = "StartTimeout";

const PROFILE_ORDER = Object.keys(WORKLOAD_PROFILES) as WorkloadProfile[];

const OOM_PATTERN = /OutOfMemory/i;
/** Start errors worth another try: the image pull or the ENI/secrets set-up, capacity. */
const TRANSIENT_START_PATTERN =
  /CannotPullContainer|pull image|ResourceInitializationError|Capacity is unavailable|capacity/i;

export type RelaunchCause = "capacity" | "start_error" | "spot" | "start_timeout" | "oom";

/** Resources of the next attempt. */
export type HealDecision =
  | { readonly kind: "cancel" }
  | { readonly kind: "fail"; readonly note?: string }
  | {
      readonly kind: "relaunch";
      readonly cause: RelaunchCause;
      readonly next: NextAttempt;
      /** Said in the attempt's reason and the log: why, and what changes. */
      readonly note: string;
    };

export function isOutOfMemory(task: StoppedTask): boolean {
  return OOM_PATTERN.test(`${task.containerReason ?? ""} ${task.stoppedReason ?? ""}`);
}

/** The infrastructure's failures that another attempt may get past. */
export function relaunchCause(task: StoppedTask): RelaunchCause | undefined {
  if (isOutOfMemory(task)) return "oom";
  if (task.stopCode === START_TIMEOUT_STOP_CODE) return "start_timeout";
  if (task.stopCode === "SpotInterruption") return "spot";
  if (task.stopCode === "TaskFailedToStart") {
    return /capacity/i.test(task.stoppedReason ?? "") ? "capacity" : "start_error";
  }
  // The worker never ran (no exit code) and ECS says why: a pull or set-up hiccup.
  if (
    task.exitCode === undefined &&
    TRANSIENT_START_PATTERN.test(`${task.containerReason ?? ""} ${task.stoppedReason ?? ""}`)
  ) {
    return "start_error";
  }
  return undefined;
}

/** The run's current resources: its last attempt's, else the launch's. */
function current(run: RunRecord): NextAttempt & { readonly profile?: string } {
  const last = run.attempts?.[run.attempts.length - 1];
  const profile = last?.workload_profile ?? (last ? undefined : run.workload_profile);
  return {
    ...(profile !== undefined && profile in WORKLOAD_PROFILES
      ? { workloadProfile: profile as WorkloadProfile }
      : {}),
    cpu: last?.cpu ?? run.cpu ?? WORKLOAD_PROFILES.medium.cpu,
    memory: last?.memory ?? run.memory ?? WORKLOAD_PROFILES.medium.memory,
    capacityProvider: last?.capacity_provider ?? run.capacity_provider ?? "FARGATE",
  };
}

/** The next larger profile (by memory, for explicit sizes); undefined at `max`. */
export function nextLargerProfile(now: {
  readonly workloadProfile?: WorkloadProfile;
  readonly memory: string;
}): WorkloadProfile | undefined {
  if (now.workloadProfile !== undefined) {
    return PROFILE_ORDER[PROFILE_ORDER.indexOf(now.workloadProfile) + 1];
  }
  const memory = Number(now.memory);
  return PROFILE_ORDER.find((p) => Number(WORKLOAD_PROFILES[p].memory) > memory);
}

export function spotInterruptions(attempts: readonly RunAttempt[] | undefined): number {
  return (attempts ?? []).filter((a) => a.stop_code === "SpotInterruption").length;
}

/**
 * Decides what a stopped attempt does to its still-active run. `canRelaunch`: a relaunch
 * capability is wired (the local platform while closing, or a Lambda without launch
 * configuration, has none: the run fails as before).
 */
export function decide(run: RunRecord, task: StoppedTask, canRelaunch: boolean): HealDecision {
  if (run.cancel_requested) return { kind: "cancel" };
  const cause = relaunchCause(task);
  if (cause === undefined) return { kind: "fail" };
  const now = current(run);
  let next: NextAttempt = now;
  let note: string;
  switch (cause) {
    case "oom": {
      if (run.oom_policy !== "scale_up") return { kind: "fail" };
      const bigger = nextLargerProfile(now);
      if (bigger === undefined) {
        return { kind: "fail", note: "already on the largest workload profile (max)" };
      }
      next = { ...now, workloadProfile: bigger, ...WORKLOAD_PROFILES[bigger] };
      note = `out of memory on ${now.workloadProfile ?? `${now.cpu}/${now.memory}`}; relaunched on ${bigger} (oom_policy scale_up)`;
      break;
    }
    case "spot": {
      // This interruption is not in the attempts yet.
      const interruptions = spotInterruptions(run.attempts) + 1;
      const fallback =
        now.capacityProvider === "FARGATE_SPOT" && interruptions >= SPOT_FALLBACK_AFTER;
      if (fallback) next = { ...now, capacityProvider: "FARGATE" };
      note = fallback
        ? `Spot interruption ${interruptions}; relaunched on on-demand FARGATE`
        : `Spot interruption ${interruptions}; relaunched`;
      break;
    }
    case "start_timeout":
      note = "task stayed PENDING past the start timeout; stopped and relaunched";
      break;
    case "capacity":
      note = "no Fargate capacity to start the task; relaunched";
      break;
    case "start_error":
      note = "task could not start; relaunched";
      break;
  }
  const max = run.max_relaunches ?? DEFAULT_MAX_RELAUNCHES;
  const used = run.relaunches ?? 0;
  if (!canRelaunch) return { kind: "fail" };
  if (used >= max) {
    return {
      kind: "fail",
      note: `gave up after ${used} relaunch${used === 1 ? "" : "es"} (max_relaunches ${max})`,
    };
  }
  return { kind: "relaunch", cause, next, note };
}

/**
 * The run's attempts with the stopped one closed: its stop details and what came of it. A run
 * recorded before attempts existed gets its first attempt from the run's own fields.
 */
export function closeAttempt(
  run: RunRecord,
  task: StoppedTask,
  outcome: string,
  reason: string,
  stoppedAt: string,
): RunAttempt[] {
  const attempts: RunAttempt[] =
    run.attempts && run.attempts.length > 0
      ? run.attempts.map((a) => ({ ...a }))
      : [
          {
            attempt: 1,
            task_arn: task.taskArn,
            ...(run.workload_profile !== undefined
              ? { workload_profile: run.workload_profile }
              : {}),
            ...(run.cpu !== undefined ? { cpu: run.cpu } : {}),
            ...(run.memory !== undefined ? { memory: run.memory } : {}),
            ...(run.capacity_provider !== undefined
              ? { capacity_provider: run.capacity_provider }
              : {}),
            started_at: run.started_at ?? run.created_at,
          },
        ];
  let index = attempts.length - 1;
  while (index >= 0 && attempts[index]?.task_arn !== task.taskArn) index--;
  const target = attempts[index === -1 ? attempts.length - 1 : index];
  if (target) {
    target.stopped_at = stoppedAt;
    if (task.stopCode !== undefined) target.stop_code = task.stopCode;
    if (task.exitCode !== undefined) target.exit_code = task.exitCode;
    if (reason) target.reason = reason.slice(0, 1000);
    target.outcome = outcome;
  }
  return attempts;
}
