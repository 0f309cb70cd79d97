/**
 * The parser for EventBridge schedule expressions: `cron(...)` with six fields and `rate(...)`,
 * into a ParsedSchedule. Every error is a ScheduleExpressionError that quotes the expression,
 * names the field at fault and says what is allowed. See ./expression.ts for the semantics.
 */
import { ValidationError } from "../errors";

/** A schedule expression failed to parse; `field` names the cron field or rate part at fault. */
export class ScheduleExpressionError extends ValidationError {}

export type RateUnit = "minutes" | "hours" | "days";

export interface RateSchedule {
  readonly kind: "rate";
  readonly expression: string;
  readonly value: number;
  readonly unit: RateUnit;
  readonly intervalMs: number;
}

export type DayOfMonthSpec =
  | { readonly kind: "unspecified" }
  | { readonly kind: "days"; readonly days: readonly number[] }
  | { readonly kind: "last" }
  | { readonly kind: "lastWeekday" }
  | { readonly kind: "nearestWeekday"; readonly day: number };

/** Days of week are 1-7 = SUN-SAT, as in the expression. */
export type DayOfWeekSpec =
  | { readonly kind: "unspecified" }
  | { readonly kind: "days"; readonly days: readonly number[] }
  | { readonly kind: "lastOfMonth"; readonly day: number }
  | { readonly kind: "nthOfMonth"; readonly day: number; readonly n: number };

export interface CronSchedule {
  readonly kind: "cron";
  readonly expression: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly dayOfMonth: DayOfMonthSpec;
  readonly months: readonly number[];
  readonly dayOfWeek: DayOfWeekSpec;
  readonly years: readonly number[];
}

export type ParsedSchedule = RateSchedule | CronSchedule;

export const MINUTE_MS = 60_000;
const RATE_UNIT_MS: Record<RateUnit, number> = {
  minutes: MINUTE_MS,
  hours: 60 * MINUTE_MS,
  days: 24 * 60 * MINUTE_MS,
};
const SINGULAR: Record<RateUnit, string> = { minutes: "minute", hours: "hour", days: "day" };

const MIN_YEAR = 1970;
export const MAX_YEAR = 2199;
const MONTH_NAMES = [
  "JAN",
  "FEB",
  "MAR",
  "APR",
  "MAY",
  "JUN",
  "JUL",
  "AUG",
  "SEP",
  "OCT",
  "NOV",
  "DEC",
];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names accepted in place of numbers, index 0 = `min`. */
  readonly names?: readonly string[];
  readonly allowed: string;
  readonly step: boolean;
}

const FIELDS = {
  minutes: { name: "minutes", min: 0, max: 59, allowed: "0-59 with , - * /", step: true },
  hours: { name: "hours", min: 0, max: 23, allowed: "0-23 with , - * /", step: true },
  dayOfMonth: {
    name: "day-of-month",
    min: 1,
    max: 31,
    allowed: "1-31 with , - * ? / L W",
    step: true,
  },
  month: {
    name: "month",
    min: 1,
    max: 12,
    names: MONTH_NAMES,
    allowed: "1-12 or JAN-DEC with , - * /",
    step: true,
  },
  dayOfWeek: {
    name: "day-of-week",
    min: 1,
    max: 7,
    names: DAY_NAMES,
    allowed: "1-7 or SUN-SAT with , - * ? L #",
    step: false,
  },
  year: {
    name: "year",
    min: MIN_YEAR,
    max: MAX_YEAR,
    allowed: `${MIN_YEAR}-${MAX_YEAR} with , - * /`,
    step: true,
  },
} as const satisfies Record<string, FieldRule>;

/**
 * Parses `cron(m h dom mon dow yr)` or `rate(n unit)`. Throws `ScheduleExpressionError` whose
 * message quotes the expression, names the field and says what is allowed.
 */
export function parseScheduleExpression(expression: string): ParsedSchedule {
  const fail = (field: string, detail: string): never => {
    throw new ScheduleExpressionError(
      `Invalid schedule expression "${expression}": ${detail}`,
      field,
    );
  };
  const rate = /^rate\((.*)\)$/.exec(expression);
  if (rate) return parseRate(expression, rate[1] ?? "", fail);
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (cron) return parseCron(expression, cron[1] ?? "", fail);
  return fail(
    "expression",
    'expected "cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)" or "rate(<value> <unit>)", e.g. "cron(0 9 * * ? *)" or "rate(1 hour)"',
  );
}

type Fail = (field: string, detail: string) => never;

function parseRate(expression: string, body: string, fail: Fail): RateSchedule {
  const parts = body.split(" ");
  if (parts.length !== 2 || parts.some((p) => p === "")) {
    return fail("rate", 'a rate is "rate(<value> <unit>)" with one space, e.g. "rate(5 minutes)"');
  }
  const [valueText = "", unitText = ""] = parts;
  if (!/^[1-9][0-9]*$/.test(valueText) || !Number.isSafeInteger(Number(valueText))) {
    return fail("rate value", `rate value "${valueText}" must be a positive whole number`);
  }
  const value = Number(valueText);
  const unit = (Object.keys(RATE_UNIT_MS) as RateUnit[]).find(
    (u) => u === unitText || SINGULAR[u] === unitText,
  );
  if (!unit) {
    return fail(
      "rate unit",
      `rate unit "${unitText}" is not allowed; allowed: minute, minutes, hour, hours, day, days`,
    );
  }
  const expected = value === 1 ? SINGULAR[unit] : unit;
  if (unitText !== expected) {
    return fail(
      "rate unit",
      `rate unit "${unitText}" does not agree with the value ${value}: use "${expected}" (singular for 1, plural otherwise)`,
    );
  }
  return { kind: "rate", expression, value, unit, intervalMs: value * RATE_UNIT_MS[unit] };
}

function parseCron(expression: string, body: string, fail: Fail): CronSchedule {
  const parts = body.split(" ");
  if (parts.some((p) => p === "")) {
    return fail("cron", "cron fields must be separated by single spaces");
  }
  if (parts.length !== 6) {
    return fail(
      "cron",
      `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}${parts.length === 5 ? '; add the year field, e.g. "*"' : ""}`,
    );
  }
  const [min = "", hour = "", dom = "", month = "", dow = "", year = ""] = parts;
  const fieldFail =
    (rule: FieldRule, text: string) =>
    (detail: string): never =>
      fail(rule.name, `${rule.name} field "${text}": ${detail}; allowed: ${rule.allowed}`);

  for (const [rule, text] of [
    [FIELDS.minutes, min],
    [FIELDS.hours, hour],
    [FIELDS.month, month],
    [FIELDS.year, year],
  ] as const) {
    if (text === "?") fieldFail(rule, text)('"?" is only allowed in day-of-month or day-of-week');
  }
  const domUnspecified = dom === "?";
  const dowUnspecified = dow === "?";
  if (domUnspecified && dowUnspecified) {
    return fail(
      "day-of-month",
      'day-of-month and day-of-week are both "?"; exactly one of them must be "?" and the other a value or "*"',
    );
  }
  if (!domUnspecified && !dowUnspecified) {
    return fail(
      "day-of-week",
      `day-of-month "${dom}" and day-of-week "${dow}" are both set; one of them must be "?" (e.g. "0 9 * * ? *" or "0 0 ? * MON-FRI *")`,
    );
  }
  return {
    kind: "cron",
    expression,
    minutes: parseList(min, FIELDS.minutes, fieldFail(FIELDS.minutes, min)),
    hours: parseList(hour, FIELDS.hours, fieldFail(FIELDS.hours, hour)),
    dayOfMonth: domUnspecified
      ? { kind: "unspecified" }
      : parseDayOfMonth(dom, fieldFail(FIELDS.dayOfMonth, dom)),
    months: parseList(month, FIELDS.month, fieldFail(FIELDS.month, month)),
    dayOfWeek: dowUnspecified
      ? { kind: "unspecified" }
      : parseDayOfWeek(dow, fieldFail(FIELDS.dayOfWeek, dow)),
    years: parseList(year, FIELDS.year, fieldFail(FIELDS.year, year)),
  };
}

function parseDayOfMonth(text: string, fail: (detail: string) => never): DayOfMonthSpec {
  if (text === "L") return { kind: "last" };
  if (text === "LW") return { kind: "lastWeekday" };
  const weekday = /^([0-9]+)W$/.exec(text);
  if (weekday) {
    return { kind: "nearestWeekday", day: parseNumber(weekday[1] ?? "", FIELDS.dayOfMonth, fail) };
  }
  if (/[LW]/.test(text)) fail('"L" and "W" stand alone: "L", "LW" or "<day>W" (e.g. "15W")');
  return { kind: "days", days: parseList(text, FIELDS.dayOfMonth, fail) };
}

function parseDayOfWeek(text: string, fail: (detail: string) => never): DayOfWeekSpec {
  // A bare "L" in day-of-week is the last day of the week: Saturday.
  if (text === "L") return { kind: "days", days: [7] };
  const last = /^([0-9A-Za-z]+)L$/.exec(text);
  if (last) return { kind: "lastOfMonth", day: parseNumber(last[1] ?? "", FIELDS.dayOfWeek, fail) };
  const nth = /^([0-9A-Za-z]+)#([0-9]+)$/.exec(text);
  if (nth) {
    const n = Number(nth[2]);
    if (!(n >= 1 && n <= 5))
      fail(`"#${nth[2]}" must be between 1 and 5 (the nth weekday of the month)`);
    return { kind: "nthOfMonth", day: parseNumber(nth[1] ?? "", FIELDS.dayOfWeek, fail), n };
  }
  if (/[L#]/.test(text))
    fail('"L" and "#" stand alone: "L", "<day>L" (e.g. "6L") or "<day>#<n>" (e.g. "2#1")');
  return { kind: "days", days: parseList(text, FIELDS.dayOfWeek, fail) };
}

/** A comma list of `*`, `n`, `a-b`, each optionally `/step`. Returns sorted distinct values. */
function parseList(text: string, rule: FieldRule, fail: (detail: string) => never): number[] {
  const values = new Set<number>();
  for (const item of text.split(",")) {
    if (item === "") fail("empty list entry");
    const [range = "", stepText, extra] = item.split("/");
    if (extra !== undefined) fail(`"${item}" has more than one "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!rule.step) fail(`"/" is not allowed in ${rule.name}`);
      if (!/^[0-9]+$/.test(stepText) || Number(stepText) < 1) {
        fail(`step "${stepText}" must be a positive whole number`);
      }
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === "*") {
      from = rule.min;
      to = rule.max;
    } else if (range.includes("-")) {
      const [a = "", b = "", more] = range.split("-");
      if (more !== undefined) fail(`"${range}" is not a range like "1-5"`);
      from = parseNumber(a, rule, fail);
      to = parseNumber(b, rule, fail);
      if (from > to) fail(`range "${range}" runs backwards; write it as a list instead`);
    } else {
      from = parseNumber(range, rule, fail);
      // "5/15" means from 5 to the end of the field in steps of 15.
      to = stepText !== undefined ? rule.max : from;
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

function parseNumber(text: string, rule: FieldRule, fail: (detail: string) => never): number {
  const named = rule.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return rule.min + named;
  if (!/^[0-9]+$/.test(text)) {
    return fail(
      rule.names
        ? `"${text}" is neither a number nor a name (${rule.names[0]}-${rule.names[rule.names.length - 1]})`
        : `"${text}" is not a number`,
    );
  }
  const value = Number(text);
  if (value < rule.min || value > rule.max) {
    return fail(`${value} is out of range ${rule.min}-${rule.max}`);
  }
  return value;
}
