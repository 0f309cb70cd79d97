import {
  isValidTimeZone,
  nextFireTime,
  parseScheduleExpression,
  ScheduleExpressionError,
} from "../../lib/schedules/expression";
import { ValidationError } from "../../lib/errors";

const at = (iso: string): Date => new Date(iso);
const next = (expr: string, after: string, timeZone?: string): string | undefined =>
  nextFireTime(expr, at(after), timeZone ? { timeZone } : {})?.toISOString();

function errorOf(expr: string): ScheduleExpressionError {
  try {
    parseScheduleExpression(expr);
  } catch (error) {
    if (error instanceof ScheduleExpressionError) return error;
    throw error;
  }
  throw new Error(`expected ${expr} to be rejected`);
}

describe("parseScheduleExpression accepts the guide's examples", () => {
  test("cron(0 9 * * ? *) is every day at 09:00", () => {
    const parsed = parseScheduleExpression("cron(0 9 * * ? *)");
    expect(parsed).toMatchObject({ kind: "cron", minutes: [0], hours: [9] });
    expect(next("cron(0 9 * * ? *)", "2024-03-14T08:59:00Z")).toBe("2024-03-14T09:00:00.000Z");
    expect(next("cron(0 9 * * ? *)", "2024-03-14T09:00:00Z")).toBe("2024-03-15T09:00:00.000Z");
  });

  test("cron(0 */6 * * ? *) fires every 6 hours", () => {
    expect(parseScheduleExpression("cron(0 */6 * * ? *)")).toMatchObject({ hours: [0, 6, 12, 18] });
    expect(next("cron(0 */6 * * ? *)", "2024-03-14T06:00:00Z")).toBe("2024-03-14T12:00:00.000Z");
  });

  test("cron(0 0 ? * MON-FRI *) fires on weekdays at midnight", () => {
    // 2024-03-15 is a Friday: the next weekday midnight after it is Monday the 18th.
    expect(next("cron(0 0 ? * MON-FRI *)", "2024-03-15T00:00:00Z")).toBe(
      "2024-03-18T00:00:00.000Z",
    );
    expect(parseScheduleExpression("cron(0 0 ? * MON-FRI *)")).toMatchObject({
      dayOfWeek: { kind: "days", days: [2, 3, 4, 5, 6] },
    });
  });

  test("cron(0 0 1 * ? *) fires on the first of the month", () => {
    expect(next("cron(0 0 1 * ? *)", "2024-01-31T12:00:00Z")).toBe("2024-02-01T00:00:00.000Z");
    expect(next("cron(0 0 1 * ? *)", "2024-12-01T00:00:00Z")).toBe("2025-01-01T00:00:00.000Z");
  });

  test.each([
    ["rate(1 hour)", 3_600_000],
    ["rate(30 minutes)", 1_800_000],
    ["rate(5 days)", 5 * 86_400_000],
    ["rate(1 minute)", 60_000],
  ])("%s is a rate of %d ms", (expr, intervalMs) => {
    expect(parseScheduleExpression(expr)).toMatchObject({ kind: "rate", intervalMs });
  });
});

describe("parseScheduleExpression rejects invalid expressions with a precise message", () => {
  test("fails when a rate of 1 uses a plural unit", () => {
    const error = errorOf("rate(1 hours)");
    expect(error.message).toBe(
      'Invalid schedule expression "rate(1 hours)": rate unit "hours" does not agree with the value 1: use "hour" (singular for 1, plural otherwise)',
    );
    expect(error.field).toBe("rate unit");
    expect(error).toBeInstanceOf(ValidationError);
  });

  test("fails when a rate above 1 uses a singular unit", () => {
    expect(errorOf("rate(5 minute)").message).toContain('use "minutes"');
  });

  test("fails when the rate value is zero", () => {
    const error = errorOf("rate(0 minutes)");
    expect(error.message).toContain('rate value "0" must be a positive whole number');
    expect(error.field).toBe("rate value");
  });

  test("fails when the rate unit is unknown", () => {
    expect(errorOf("rate(2 weeks)").message).toContain(
      'rate unit "weeks" is not allowed; allowed: minute, minutes, hour, hours, day, days',
    );
  });

  test("fails when a cron expression has five fields", () => {
    const error = errorOf("cron(0 9 * * ?)");
    expect(error.message).toContain("a cron expression has 6 fields");
    expect(error.message).toContain("got 5");
    expect(error.message).toContain('add the year field, e.g. "*"');
  });

  test("fails when both day fields are set", () => {
    const error = errorOf("cron(0 9 * * MON *)");
    expect(error.message).toContain('day-of-month "*" and day-of-week "MON" are both set');
    expect(error.message).toContain('one of them must be "?"');
    expect(error.field).toBe("day-of-week");
  });

  test("fails when both day fields are ?", () => {
    expect(errorOf("cron(0 9 ? * ? *)").message).toContain(
      'day-of-month and day-of-week are both "?"',
    );
  });

  test("fails when ? is used outside the day fields", () => {
    const error = errorOf("cron(? 9 * * ? *)");
    expect(error.message).toContain(
      'minutes field "?": "?" is only allowed in day-of-month or day-of-week',
    );
    expect(error.field).toBe("minutes");
  });

  test("fails when a value is out of range, naming the field and what is allowed", () => {
    const error = errorOf("cron(0 24 * * ? *)");
    expect(error.message).toBe(
      'Invalid schedule expression "cron(0 24 * * ? *)": hours field "24": 24 is out of range 0-23; allowed: 0-23 with , - * /',
    );
    expect(error.field).toBe("hours");
  });

  test("fails when a day name is misspelled", () => {
    expect(errorOf("cron(0 0 ? * MON-FRX *)").message).toContain(
      'day-of-week field "MON-FRX": "FRX" is neither a number nor a name (SUN-SAT)',
    );
  });

  test("fails when a range runs backwards", () => {
    expect(errorOf("cron(0 0 ? * FRI-MON *)").message).toContain('range "FRI-MON" runs backwards');
  });

  test("fails when the expression is neither cron nor rate", () => {
    expect(errorOf("0 9 * * ? *").message).toContain('expected "cron(');
  });

  test("fails when the year is outside 1970-2199", () => {
    expect(errorOf("cron(0 0 1 1 ? 2200)").message).toContain("2200 is out of range 1970-2199");
  });
});

describe("nextFireTime", () => {
  test("supports L (last day of month) and W (nearest weekday)", () => {
    expect(next("cron(0 12 L * ? *)", "2024-02-01T00:00:00Z")).toBe("2024-02-29T12:00:00.000Z");
    // 2024-06-15 is a Saturday: 15W fires on Friday the 14th.
    expect(next("cron(0 12 15W * ? *)", "2024-06-01T00:00:00Z")).toBe("2024-06-14T12:00:00.000Z");
    // Last weekday of August 2024: Friday the 30th (the 31st is a Saturday).
    expect(next("cron(0 12 LW * ? *)", "2024-08-01T00:00:00Z")).toBe("2024-08-30T12:00:00.000Z");
  });

  test("supports nth and last weekday of the month", () => {
    // Second Tuesday of April 2024 is the 9th; last Friday is the 26th.
    expect(next("cron(0 8 ? * 3#2 *)", "2024-04-01T00:00:00Z")).toBe("2024-04-09T08:00:00.000Z");
    expect(next("cron(0 8 ? * 6L *)", "2024-04-01T00:00:00Z")).toBe("2024-04-26T08:00:00.000Z");
  });

  test("reads cron fields in the given time zone", () => {
    // 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    expect(next("cron(0 9 * * ? *)", "2024-01-10T00:00:00Z", "Europe/Berlin")).toBe(
      "2024-01-10T08:00:00.000Z",
    );
    expect(next("cron(0 9 * * ? *)", "2024-07-10T00:00:00Z", "Europe/Berlin")).toBe(
      "2024-07-10T07:00:00.000Z",
    );
  });

  test("skips a wall-clock time that daylight saving jumps over", () => {
    // Berlin skips 02:00-03:00 on 2024-03-31: a 02:30 schedule fires next on April 1st.
    expect(next("cron(30 2 * * ? *)", "2024-03-30T12:00:00Z", "Europe/Berlin")).toBe(
      "2024-04-01T00:30:00.000Z",
    );
  });

  test("fires once, at the first occurrence, for a wall-clock time that repeats", () => {
    // Berlin repeats 02:00-03:00 on 2024-10-27; 02:30 CEST is 00:30 UTC.
    const first = next("cron(30 2 * * ? *)", "2024-10-26T12:00:00Z", "Europe/Berlin");
    expect(first).toBe("2024-10-27T00:30:00.000Z");
    expect(next("cron(30 2 * * ? *)", first!, "Europe/Berlin")).toBe("2024-10-28T01:30:00.000Z");
  });

  test("returns undefined when the schedule never fires again", () => {
    expect(next("cron(0 0 30 2 ? *)", "2024-01-01T00:00:00Z")).toBeUndefined();
    expect(next("cron(0 0 1 1 ? 2020)", "2024-01-01T00:00:00Z")).toBeUndefined();
  });

  test("counts rates from the anchor", () => {
    const anchor = at("2024-03-14T10:00:00Z");
    expect(
      nextFireTime("rate(30 minutes)", at("2024-03-14T10:45:00Z"), { anchor })?.toISOString(),
    ).toBe("2024-03-14T11:00:00.000Z");
    expect(
      nextFireTime("rate(30 minutes)", at("2024-03-14T11:00:00Z"), { anchor })?.toISOString(),
    ).toBe("2024-03-14T11:30:00.000Z");
    expect(nextFireTime("rate(1 hour)", at("2024-03-14T10:00:00Z"))?.toISOString()).toBe(
      "2024-03-14T11:00:00.000Z",
    );
  });

  test("fails when the time zone is not an IANA name", () => {
    expect(() =>
      nextFireTime("cron(0 9 * * ? *)", new Date(), { timeZone: "Mars/Olympus" }),
    ).toThrow('time zone "Mars/Olympus" is not an IANA time zone name');
  });
});

test("isValidTimeZone accepts IANA names and rejects others", () => {
  expect(isValidTimeZone("America/New_York")).toBe(true);
  expect(isValidTimeZone("UTC")).toBe(true);
  expect(isValidTimeZone("Mars/Olympus")).toBe(false);
  expect(isValidTimeZone("")).toBe(false);
});
