/**
 * What one `RunRepository#transition` may add to its conditional UpdateItem besides the status
 * move: conditions on the run's task and attempts, and the worker's last task states and kept
 * outputs. Everything here rides in the same request, so it is written exactly when the status
 * condition holds (DESIGN.md: every status write is conditional on the current status).
 */
import type { TaskState } from "../sdk/types";
import type { RunAttempt, TaskOutputRef } from "./records";
import { compactTaskState } from "./task-states";
import type { UpdateBuilder } from "./update-builder";

/**
 * Task states plus kept outputs one transition may carry: the UpdateExpression (DynamoDB's
 * limit is 4 KB per expression) stays small with the status move's own attributes beside them.
 */
export const MAX_ENTRIES_WITH_TRANSITION = 40;

/** Extra conditions (and attempt fields) of one `transition`. */
export interface TransitionOptions {
  /**
   * Also require the run's current task to be this one (null: that it has none; `absentOr`:
   * none, or this one — a worker claiming while the launcher records the same task).
   */
  readonly taskArn?: string | null | { readonly absentOr: string };
  /**
   * Also set fields of the last attempt (`attempts[index]`), on condition that the run has
   * exactly `index + 1` attempts: the worker's claim says who ran it (task ARN, start mode).
   */
  readonly lastAttempt?: { readonly index: number; readonly fields: Partial<RunAttempt> };
  /**
   * A worker's claim without reading the run first: also require that no cancel was requested
   * and that the run never started (`started_at` absent); with `task` (whose ARN the caller
   * sets in `fields`), also that the run has no task yet — or already this one, recorded by
   * the launcher as its only attempt with this start mode. Exactly the write the worker would
   * make after reading a run in that state; any other state fails the condition and the
   * worker reads the run to decide.
   */
  readonly firstClaim?: {
    readonly task?: {
      readonly taskArn: string;
      readonly startMode: NonNullable<RunAttempt["start_mode"]>;
    };
  };
  /**
   * The run's org as the caller knows it (a worker's configuration): saves reading it. The
   * condition checks it, so a wrong one only fails the write.
   */
  readonly orgId?: string;
  /**
   * Task states merged into `task_states` in the same write (the map exists: create() makes
   * it). Compacted as `mergeTaskStates` does.
   */
  readonly taskStates?: Readonly<Record<string, TaskState>>;
  /**
   * Kept outputs written into `task_outputs` in the same write: by entry into the existing map,
   * or, with `createMap`, as the whole map (the run has none yet).
   */
  readonly taskOutputs?: {
    readonly entries: Readonly<Record<string, TaskOutputRef>>;
    readonly createMap: boolean;
  };
}

/** Adds the options' writes to `update`; returns their conditions (each starts with " AND "). */
export function addTransitionOptions(update: UpdateBuilder, options: TransitionOptions): string {
  let condition = "";
  if (options.taskArn !== undefined) {
    const arn = update.name("task_arn");
    condition +=
      options.taskArn === null
        ? ` AND attribute_not_exists(${arn})`
        : typeof options.taskArn === "object"
          ? ` AND (attribute_not_exists(${arn}) OR ${arn} = ${update.value(options.taskArn.absentOr)})`
          : ` AND ${arn} = ${update.value(options.taskArn)}`;
  }
  if (options.lastAttempt !== undefined) {
    const { index, fields: attemptFields } = options.lastAttempt;
    if (!Number.isInteger(index) || index < 0) throw new Error(`bad attempt index ${index}`);
    for (const [key, value] of Object.entries(attemptFields)) {
      if (value !== undefined) update.setElementField("attempts", index, key, value);
    }
    condition += ` AND size(${update.name("attempts")}) = ${update.value(index + 1)}`;
  }
  if (options.firstClaim !== undefined)
    condition += firstClaimCondition(update, options.firstClaim);
  const states = Object.entries(options.taskStates ?? {});
  const outputs = Object.entries(options.taskOutputs?.entries ?? {});
  if (states.length + outputs.length > MAX_ENTRIES_WITH_TRANSITION) {
    throw new Error(
      `a transition carries at most ${MAX_ENTRIES_WITH_TRANSITION} task states and outputs, got ${states.length + outputs.length}`,
    );
  }
  for (const [taskId, state] of states) {
    update.setMapEntry("task_states", taskId, compactTaskState(state));
  }
  if (outputs.length > 0) {
    if (options.taskOutputs?.createMap === true) {
      update.set("task_outputs", Object.fromEntries(outputs));
    } else {
      for (const [taskId, ref] of outputs) update.setMapEntry("task_outputs", taskId, ref);
    }
  }
  return condition;
}

function firstClaimCondition(
  update: UpdateBuilder,
  claim: NonNullable<TransitionOptions["firstClaim"]>,
): string {
  const cancel = update.name("cancel_requested");
  let condition =
    ` AND (attribute_not_exists(${cancel}) OR ${cancel} = ${update.value(false)})` +
    ` AND attribute_not_exists(${update.name("started_at")})`;
  if (claim.task !== undefined) {
    const arn = update.name("task_arn");
    const ours = update.value(claim.task.taskArn);
    const attempts = update.name("attempts");
    const launcherRecorded =
      `${arn} = ${ours} AND size(${attempts}) = ${update.value(1)}` +
      ` AND ${attempts}[0].${update.name("task_arn")} = ${ours}` +
      ` AND ${attempts}[0].${update.name("start_mode")} = ${update.value(claim.task.startMode)}`;
    condition += ` AND (attribute_not_exists(${arn}) OR (${launcherRecorded}))`;
  }
  return condition;
}
