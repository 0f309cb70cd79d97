/**
 * Checks every schedule implementation applies before creating anything, so a schedule that
 * could never fire (bad expression, unknown time zone, oversized input) is a 400, not a rule
 * that fails silently at 9 AM.
 */
import { ValidationError } from "../errors";
import { isValidTimeZone, nextFireTime, parseScheduleExpression } from "./expression";
import type { LaunchEventInput, ScheduleDefinition } from "./types";

/** Schedule names: what EventBridge rule and Scheduler names allow. */
export const SCHEDULE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** EventBridge rule and Scheduler schedule names are at most 64 characters. */
export const MAX_RESOURCE_NAME = 64;
/** EventBridge target Input and Scheduler target Input limit. */
export const MAX_INPUT_CHARS = 8192;
export const MAX_DESCRIPTION = 512;

export function isUtc(timeZone: string): boolean {
  return ["UTC", "Etc/UTC", "GMT", "Etc/GMT"].includes(timeZone);
}

export function validateScheduleDefinition(
  definition: ScheduleDefinition,
  resourceName: string,
): void {
  if (!SCHEDULE_NAME_PATTERN.test(definition.name)) {
    throw new ValidationError(
      `name: ${JSON.stringify(definition.name)} is invalid: use 1-64 letters, digits, '.', '_' or '-'`,
      "name",
    );
  }
  if (resourceName.length > MAX_RESOURCE_NAME) {
    throw new ValidationError(
      `name: the schedule's resource name "${resourceName}" is ${resourceName.length} characters; ` +
        `EventBridge allows ${MAX_RESOURCE_NAME} (shorten the name)`,
      "name",
    );
  }
  try {
    parseScheduleExpression(definition.expression);
  } catch (error) {
    // The parser names the cron field or rate part at fault; the request field is `expression`.
    if (error instanceof ValidationError) {
      throw new ValidationError(`expression: ${error.message}`, "expression");
    }
    throw error;
  }
  if (definition.timeZone !== undefined && !isValidTimeZone(definition.timeZone)) {
    throw new ValidationError(
      `time_zone: "${definition.timeZone}" is not an IANA time zone name (e.g. "Europe/Berlin")`,
      "time_zone",
    );
  }
  if (definition.description !== undefined && definition.description.length > MAX_DESCRIPTION) {
    throw new ValidationError(
      `description: must be at most ${MAX_DESCRIPTION} characters`,
      "description",
    );
  }
  const inputChars = JSON.stringify(definition.input).length;
  if (inputChars > MAX_INPUT_CHARS) {
    throw new ValidationError(
      `parameters: the schedule's launch event is ${inputChars} characters; EventBridge allows ` +
        `${MAX_INPUT_CHARS} (pass large inputs by reference, e.g. an S3 URI)`,
      "parameters",
    );
  }
}

/**
 * The idempotency key of one firing: the schedule's resource name and the firing's scheduled
 * time, the same form the stack's own schedules use. EventBridge delivers at least once; two
 * deliveries of one firing carry the same scheduled time, so they launch one run.
 */
export function firingKey(resourceName: string, scheduledTime: string): string {
  return `${resourceName}@${scheduledTime}`;
}

/** EventBridge Scheduler substitutes this in a target's Input (context attributes). */
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
export const SCHEDULER_SCHEDULED_TIME = "<aws.scheduler.scheduled-time>";
/** An EventBridge input transformer variable bound to the scheduled event's `time`. */
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
export const RULE_SCHEDULED_TIME = "<time>";

/** The stored input without its per-firing key (what a schedule launches, as created). */
export function withoutFiringKey(input: LaunchEventInput): LaunchEventInput {
  const { idempotency_key: _key, ...rest } = input;
  return rest;
}

/**
 * Reads a target's Input back. Lenient on purpose: only the fields needed to attribute a
 * schedule to an org are required; anything else is returned as stored.
 */
export function parseLaunchEventInput(input: string | undefined): LaunchEventInput | undefined {
  if (input === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  if (
    record.action !== "launch" ||
    typeof record.flow_name !== "string" ||
    typeof record.org_id !== "string"
  ) {
    return undefined;
  }
  return withoutFiringKey(record as LaunchEventInput);
}

/** Latest instant a JavaScript Date can hold (year 275760). */
const MAX_DATE_MS = 8.64e15;

/**
 * Checks an expression and time zone and returns the next fire time after `now`. A 400 naming
 * the field when the expression is malformed, the zone unknown, the schedule never fires
 * (`cron(0 9 30 2 ? *)`: no 30 February) or its next firing is past what a date can hold
 * (`rate(200000000 days)`).
 */
export function validateScheduleTiming(
  expression: string,
  timeZone: string | undefined,
  now: Date,
): Date {
  let parsed;
  try {
    parsed = parseScheduleExpression(expression);
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new ValidationError(`expression: ${error.message}`, "expression");
    }
    throw error;
  }
  if (timeZone !== undefined && !isValidTimeZone(timeZone)) {
    throw new ValidationError(
      `time_zone: "${timeZone}" is not an IANA time zone name (e.g. "Europe/Berlin")`,
      "time_zone",
    );
  }
  const next = nextFireTime(parsed, now, timeZone !== undefined ? { timeZone } : {});
  if (next === undefined) {
    throw new ValidationError(
      `expression: ${JSON.stringify(expression)} never fires (no date matches it, such as 30 February, or its years are over)`,
      "expression",
    );
  }
  if (!Number.isFinite(next.getTime()) || next.getTime() > MAX_DATE_MS) {
    throw new ValidationError(
      `expression: ${JSON.stringify(expression)} first fires too far in the future to be scheduled`,
      "expression",
    );
  }
  return next;
}
