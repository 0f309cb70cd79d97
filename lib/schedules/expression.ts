/**
 * EventBridge schedule expressions (`cron(...)` with six fields, `rate(...)`), parsed and
 * evaluated without AWS. The CDK config validates schedules at synth with it, the API validates
 * runtime schedules with it, and the local platform fires schedules with `nextFireTime`.
 *
 * Semantics follow EventBridge rules and EventBridge Scheduler:
 * - cron fields: minutes, hours, day-of-month, month, day-of-week, year; exactly one of the two
 *   day fields is `?`; day-of-week is 1-7 = SUN-SAT.
 * - rate: `rate(<positive integer> <unit>)`, unit singular when the value is 1, plural otherwise.
 * - time zones (Scheduler): a wall-clock time skipped by a daylight-saving change does not fire;
 *   a wall-clock time that occurs twice fires once, at its first occurrence.
 *
 * This module must stay free of aws-cdk-lib imports: Lambda handlers and the local platform use it.
 *
 * The rooms: ./expression-parser.ts (the cron and rate parser and the parsed types),
 * ./zone-clock.ts (time-zone wall clocks) and ./next-fire.ts (next-fire-time computation). This
 * file keeps every name importable from here.
 */
export {
  parseScheduleExpression,
  ScheduleExpressionError,
  type CronSchedule,
  type DayOfMonthSpec,
  type DayOfWeekSpec,
  type ParsedSchedule,
  type RateSchedule,
  type RateUnit,
} from "./expression-parser";
export { nextFireTime, type NextFireOptions } from "./next-fire";
export { isValidTimeZone } from "./zone-clock";
