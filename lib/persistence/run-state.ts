/**
 * The run state machine: which status may follow which (ALLOWED_TRANSITIONS), and what one
 * status write sets besides the status — the derived index attributes and the timestamps —
 * so all of it goes out in the same conditional UpdateItem.
 */
import type { RunRecord } from "./records";
import { ALLOWED_TRANSITIONS, RUN_STATUSES, TERMINAL_STATUSES, type RunStatus } from "./schema";
import type { UpdateBuilder } from "./update-builder";

/** Index attributes derived from a run's fields; never written through `fields`. */
export const INTERNAL_ATTRIBUTES = ["org_flow", "org_status", "active_status"] as const;

/** Written only by create/transition; never through `fields`. */
const PROTECTED_FIELDS = new Set<string>([
  "run_id",
  "org_id",
  "flow_name",
  "status",
  "created_at",
  "updated_at",
  ...INTERNAL_ATTRIBUTES,
]);

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === "string" && (RUN_STATUSES as readonly string[]).includes(value);
}

/** A transition ALLOWED_TRANSITIONS forbids is a programming error, not a lost race: throws. */
export function assertTransitions(from: readonly RunStatus[], to: RunStatus): void {
  if (from.length === 0) throw new Error("transition() needs at least one 'from' status");
  for (const status of from) {
    if (!ALLOWED_TRANSITIONS[status]?.includes(to)) {
      throw new Error(`invalid run status transition ${status} -> ${to}`);
    }
  }
}

export function assertWritableFields(fields: Partial<RunRecord>, operation: string): void {
  for (const name of Object.keys(fields)) {
    if (PROTECTED_FIELDS.has(name)) {
      // A programming error, not user input: the caller must use the right operation.
      throw new Error(
        `${operation} cannot set ${name}: ${name === "status" ? "use transition()" : "it is set by create() or derived"}`,
      );
    }
  }
}

/** The index attributes a new run item carries for its status. */
export function statusAttributes(
  orgId: string,
  flowName: string,
  status: RunStatus,
): Record<string, string> {
  return {
    org_flow: `${orgId}#${flowName}`,
    org_status: `${orgId}#${status}`,
    ...(isTerminal(status) ? {} : { active_status: status }),
  };
}

/**
 * Adds a move to `to` to `update` (status, derived attributes, `updated_at`, and `started_at` /
 * `completed_at` unless `fields` sets them) and returns the condition: the status is one of
 * `from` and the run belongs to `orgId`.
 */
export function writeTransition(
  update: UpdateBuilder,
  orgId: string,
  from: readonly RunStatus[],
  to: RunStatus,
  fields: Partial<RunRecord>,
  now: Date,
): string {
  const at = now.toISOString();
  update.setFields(fields);
  update.set("status", to);
  update.set("org_status", `${orgId}#${to}`);
  update.set("updated_at", at);
  if (to === "RUNNING" && fields.started_at === undefined) update.set("started_at", at);
  if (isTerminal(to)) {
    if (fields.completed_at === undefined) update.set("completed_at", at);
    update.remove("active_status");
  } else {
    update.set("active_status", to);
  }
  const statusName = update.name("status");
  const fromValues = from.map((s) => update.value(s));
  return `${statusName} IN (${fromValues.join(", ")}) AND ${update.name("org_id")} = ${update.value(orgId)}`;
}
