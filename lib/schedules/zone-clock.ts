/**
 * Time zones for cron schedules: which IANA names this runtime knows, and ZoneClock, which
 * converts between instants and wall-clock times of one zone (including the times a
 * daylight-saving change skips or repeats).
 */
import { MINUTE_MS } from "./expression-parser";

/** True when `timeZone` is an IANA time zone name this runtime knows (e.g. `Europe/Berlin`). */
export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone.trim() === "") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

export interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** Converts between instants and wall-clock times of one IANA zone using Intl. */
export class ZoneClock {
  private readonly format: Intl.DateTimeFormat | undefined;

  constructor(timeZone: string) {
    this.format =
      timeZone === "UTC"
        ? undefined
        : new Intl.DateTimeFormat("en-US", {
            timeZone,
            hourCycle: "h23",
            year: "numeric",
            month: "numeric",
            day: "numeric",
            hour: "numeric",
            minute: "numeric",
            second: "numeric",
          });
  }

  wallClock(instant: number): WallClock {
    const d = new Date(this.wallMs(instant));
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
  }

  /**
   * The earliest instant showing this wall-clock time, or undefined when a daylight-saving jump
   * skips it. Any valid instant uses the zone's offset from a day before or a day after.
   */
  firstInstantOf(year: number, month: number, day: number, hour: number, minute: number) {
    const wall = Date.UTC(year, month - 1, day, hour, minute);
    if (!this.format) return wall;
    const dayMs = 24 * 60 * MINUTE_MS;
    const candidates = [this.offset(wall - dayMs), this.offset(wall + dayMs)]
      .map((offset) => wall - offset)
      .filter((instant) => this.wallMs(instant) === wall)
      .sort((a, b) => a - b);
    return candidates[0];
  }

  private offset(instant: number): number {
    return this.wallMs(instant) - instant;
  }

  /** The wall-clock reading at `instant`, expressed as if it were UTC, to the minute. */
  private wallMs(instant: number): number {
    const floored = Math.floor(instant / MINUTE_MS) * MINUTE_MS;
    if (!this.format) return floored;
    const get = (parts: Intl.DateTimeFormatPart[], type: Intl.DateTimeFormatPartTypes): number =>
      Number(parts.find((p) => p.type === type)?.value ?? NaN);
    const parts = this.format.formatToParts(new Date(floored));
    return Date.UTC(
      get(parts, "year"),
      get(parts, "month") - 1,
      get(parts, "day"),
      get(parts, "hour"),
      get(parts, "minute"),
    );
  }
}
