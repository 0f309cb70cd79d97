/**
 * Next-fire-time computation: when a parsed schedule fires next after a given instant. Rates
 * count from their anchor; cron fields are read in a time zone (UTC by default), where a
 * skipped wall-clock time does not fire and a repeated one fires at its first occurrence.
 */
import { ValidationError } from "../errors";
import {
  MAX_YEAR,
  parseScheduleExpression,
  type CronSchedule,
  type ParsedSchedule,
} from "./expression-parser";
import { isValidTimeZone, ZoneClock } from "./zone-clock";

export interface NextFireOptions {
  /** IANA time zone the cron fields are read in. Default UTC. Ignored for rates. */
  readonly timeZone?: string;
  /** Rates fire at `anchor + k * interval` (the schedule's start). Default: `after`. */
  readonly anchor?: Date;
}

/**
 * The first fire time strictly after `after`, or `undefined` when the schedule never fires
 * again (its years are over, or it names a day that does not exist such as 30 February).
 */
export function nextFireTime(
  schedule: string | ParsedSchedule,
  after: Date,
  options: NextFireOptions = {},
): Date | undefined {
  const parsed = typeof schedule === "string" ? parseScheduleExpression(schedule) : schedule;
  const afterMs = after.getTime();
  if (Number.isNaN(afterMs)) throw new ValidationError("after must be a valid Date", "after");
  if (parsed.kind === "rate") {
    const anchor = options.anchor?.getTime() ?? afterMs;
    if (anchor > afterMs) return new Date(anchor);
    const elapsed = Math.floor((afterMs - anchor) / parsed.intervalMs) + 1;
    return new Date(anchor + elapsed * parsed.intervalMs);
  }
  const timeZone = options.timeZone ?? "UTC";
  if (!isValidTimeZone(timeZone)) {
    throw new ValidationError(
      `time zone "${timeZone}" is not an IANA time zone name (e.g. "Europe/Berlin")`,
      "timeZone",
    );
  }
  const zone = new ZoneClock(timeZone);
  const start = zone.wallClock(afterMs);
  const years = new Set(parsed.years);
  for (let year = start.year; year <= MAX_YEAR; year++) {
    if (!years.has(year)) continue;
    for (const month of parsed.months) {
      if (year === start.year && month < start.month) continue;
      const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
      const firstDay = year === start.year && month === start.month ? start.day : 1;
      for (let day = firstDay; day <= daysInMonth; day++) {
        if (!matchesDay(parsed, year, month, day, daysInMonth)) continue;
        for (const hour of parsed.hours) {
          for (const minute of parsed.minutes) {
            const instant = zone.firstInstantOf(year, month, day, hour, minute);
            if (instant !== undefined && instant > afterMs) return new Date(instant);
          }
        }
      }
    }
  }
  return undefined;
}

function matchesDay(
  cron: CronSchedule,
  year: number,
  month: number,
  day: number,
  daysInMonth: number,
): boolean {
  const weekday = (y: number, m: number, d: number): number =>
    new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 1; // 1 = SUN
  const isWeekday = (d: number): boolean => {
    const w = weekday(year, month, d);
    return w >= 2 && w <= 6;
  };
  const dom = cron.dayOfMonth;
  switch (dom.kind) {
    case "days":
      return dom.days.includes(day);
    case "last":
      return day === daysInMonth;
    case "lastWeekday": {
      let d = daysInMonth;
      while (!isWeekday(d)) d--;
      return day === d;
    }
    case "nearestWeekday": {
      if (dom.day > daysInMonth) return false;
      // Nearest weekday to the given day, never leaving the month.
      let target = dom.day;
      const w = weekday(year, month, target);
      if (w === 7) target = target === 1 ? target + 2 : target - 1;
      else if (w === 1) target = target === daysInMonth ? target - 2 : target + 1;
      return day === target;
    }
    case "unspecified":
      break;
  }
  const dow = cron.dayOfWeek;
  const w = weekday(year, month, day);
  switch (dow.kind) {
    case "days":
      return dow.days.includes(w);
    case "lastOfMonth":
      return w === dow.day && day + 7 > daysInMonth;
    case "nthOfMonth":
      return w === dow.day && Math.ceil(day / 7) === dow.n;
    case "unspecified":
      return false; // unreachable: the parser requires one day field
  }
}
