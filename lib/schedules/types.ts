/**
 * Runtime schedules: "launch this flow for this org on this cron/rate expression". In AWS they
 * are EventBridge rules (UTC) or EventBridge Scheduler schedules (with a time zone) whose
 * target is the launch Lambda; the embedded default can provide its own implementation that
 * fires the same launch event through the same launch handler.
 */
import type { Json } from "../sdk/types";

/**
 * The event a schedule delivers to the launch handler: the guide's
 * `{"action":"launch","flow_name":...,"org_id":...,"environment":...}` plus any launch-request
 * field in snake_case.
 */
export interface LaunchEventInput {
  readonly action: "launch";
  readonly flow_name: string;
  readonly org_id: string;
  readonly environment?: string;
  readonly [field: string]: Json | undefined;
}

export interface ScheduleDefinition {
  /** Unique per org: letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  readonly orgId: string;
  /** Six-field AWS `cron(...)` or `rate(...)`. */
  readonly expression: string;
  /** IANA time zone; absent means UTC. */
  readonly timeZone?: string;
  readonly enabled: boolean;
  readonly description?: string;
  /** Delivered verbatim to the launch handler at each fire time. */
  readonly input: LaunchEventInput;
}

export interface Schedule extends ScheduleDefinition {
  /** Where the schedule lives, e.g. the EventBridge rule or Scheduler schedule name. */
  readonly resourceName: string;
  readonly kind: "eventbridge-rule" | "eventbridge-scheduler" | "local";
}

export interface ScheduleService {
  /** Creates the schedule, or replaces the org's schedule of the same name. */
  put(definition: ScheduleDefinition): Promise<Schedule>;
  /** The org's schedules, sorted by name. */
  list(orgId: string): Promise<Schedule[]>;
  /** Removes the org's schedule; false when it does not exist (or belongs to another org). */
  delete(orgId: string, name: string): Promise<boolean>;
}
