import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalScheduleService, type Clock } from "../../lib/local/scheduler";
import type { LaunchEventInput, ScheduleDefinition } from "../../lib/schedules/types";
import { ValidationError } from "../../lib/errors";

class FakeClock implements Clock {
  constructor(private current: Date) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

const MINUTE = 60_000;

function definition(overrides: Partial<ScheduleDefinition> = {}): ScheduleDefinition {
  return {
    name: "etl-every-minute",
    orgId: "acme-corp",
    expression: "rate(1 minute)",
    enabled: true,
    input: {
      action: "launch",
      flow_name: "etl_pipeline",
      org_id: "acme-corp",
      environment: "develop",
    },
    ...overrides,
  };
}

describe("LocalScheduleService", () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "dagy-sched-"));
    file = join(dir, "schedules.json");
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("fires a due rate schedule once, delivering its launch event verbatim", async () => {
    const clock = new FakeClock(new Date("2025-01-01T00:00:00Z"));
    const launched: LaunchEventInput[] = [];
    const service = await LocalScheduleService.open({
      file,
      clock,
      launch: (input) => {
        launched.push(input);
        return Promise.resolve({ success: true });
      },
    });
    await service.put(definition());

    expect(await service.tick()).toBe(0); // not yet due
    clock.advance(MINUTE);
    expect(await service.tick()).toBe(1);
    expect(await service.tick()).toBe(0); // the same fire time is not delivered twice
    // Delivered verbatim, plus the firing's own idempotency key (name and scheduled time).
    expect(launched).toEqual([
      {
        ...definition().input,
        idempotency_key: "dagy-acme-corp-etl-every-minute@2025-01-01T00:01:00.000Z",
      },
    ]);

    // Three intervals missed (laptop asleep): one catch-up fire, not three.
    clock.advance(3 * MINUTE);
    expect(await service.tick()).toBe(1);
    expect(launched).toHaveLength(2);
    expect(service.nextFire("acme-corp", "etl-every-minute")).toEqual(
      new Date("2025-01-01T00:05:00Z"),
    );
  });

  it("fires a cron schedule at its wall-clock time in the schedule's time zone", async () => {
    // 08:30 UTC = 09:30 in Berlin (winter).
    const clock = new FakeClock(new Date("2025-01-06T08:30:00Z"));
    const fired: string[] = [];
    const service = await LocalScheduleService.open({
      file,
      clock,
      launch: (_input, schedule) => {
        fired.push(`${schedule.name}@${clock.now().toISOString()}`);
        return Promise.resolve(undefined);
      },
    });
    await service.put(
      definition({ name: "daily", expression: "cron(0 10 * * ? *)", timeZone: "Europe/Berlin" }),
    );
    expect(service.nextFire("acme-corp", "daily")).toEqual(new Date("2025-01-06T09:00:00Z"));
    clock.advance(30 * MINUTE);
    await service.tick();
    expect(fired).toEqual(["daily@2025-01-06T09:00:00.000Z"]);
  });

  it("does not fire disabled schedules", async () => {
    const clock = new FakeClock(new Date("2025-01-01T00:00:00Z"));
    const launch = jest.fn(() => Promise.resolve(undefined));
    const service = await LocalScheduleService.open({ file, clock, launch });
    await service.put(definition({ enabled: false }));
    clock.advance(10 * MINUTE);
    expect(await service.tick()).toBe(0);
    expect(launch).not.toHaveBeenCalled();
  });

  it("persists schedules across restarts, lists per org, and deletes", async () => {
    const clock = new FakeClock(new Date("2025-01-01T00:00:00Z"));
    const launch = () => Promise.resolve(undefined);
    const first = await LocalScheduleService.open({ file, clock, launch });
    await first.put(definition({ name: "b" }));
    await first.put(definition({ name: "a", expression: "rate(5 minutes)" }));
    await first.put(
      definition({
        name: "other",
        orgId: "globex",
        input: { action: "launch", flow_name: "etl_pipeline", org_id: "globex" },
      }),
    );
    await first.stop();

    const second = await LocalScheduleService.open({ file, clock, launch });
    const listed = await second.list("acme-corp");
    expect(listed.map((s) => [s.name, s.expression, s.kind])).toEqual([
      ["a", "rate(5 minutes)", "local"],
      ["b", "rate(1 minute)", "local"],
    ]);
    expect(await second.delete("acme-corp", "other")).toBe(false); // another org's
    expect(await second.delete("globex", "other")).toBe(true);
    expect(await second.list("globex")).toEqual([]);
    const stored = JSON.parse(await readFile(file, "utf8")) as { schedules: unknown[] };
    expect(stored.schedules).toHaveLength(2);
    // Schedules carry launch parameters: private to this user.
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("keeps firing after a launch that throws and reports the error", async () => {
    const clock = new FakeClock(new Date("2025-01-01T00:00:00Z"));
    const errors: string[] = [];
    const service = await LocalScheduleService.open({
      file,
      clock,
      launch: () => Promise.reject(new Error("flow etl_pipeline not found")),
      onError: (error, schedule) => errors.push(`${schedule.name}: ${(error as Error).message}`),
    });
    await service.put(definition());
    clock.advance(MINUTE);
    await service.tick();
    clock.advance(MINUTE);
    await service.tick();
    expect(errors).toEqual([
      "etl-every-minute: flow etl_pipeline not found",
      "etl-every-minute: flow etl_pipeline not found",
    ]);
  });

  it("rejects an invalid expression, naming the problem, and stores nothing", async () => {
    const service = await LocalScheduleService.open({
      file,
      launch: () => Promise.resolve(undefined),
    });
    await expect(service.put(definition({ expression: "rate(0 minutes)" }))).rejects.toThrow(
      ValidationError,
    );
    await expect(
      service.put(definition({ input: { action: "launch", flow_name: "x", org_id: "globex" } })),
    ).rejects.toThrow(/input.org_id/);
    expect(await service.list("acme-corp")).toEqual([]);
  });

  it("refuses a corrupt schedules file with a message naming it", async () => {
    await writeFile(file, "{not json");
    await expect(
      LocalScheduleService.open({ file, launch: () => Promise.resolve(undefined) }),
    ).rejects.toThrow(file);
  });

  it("fires on the real timer once started", async () => {
    const launched: string[] = [];
    const realNow = Date.now();
    // A clock 59.95 s ahead: the first rate(1 minute) fire is 50 ms away in real time.
    let offset = 0;
    const clock: Clock = { now: () => new Date(realNow + offset + (Date.now() - realNow)) };
    const service = await LocalScheduleService.open({
      file,
      clock,
      launch: (input) => {
        launched.push(input.flow_name);
        return Promise.resolve(undefined);
      },
    });
    await service.put(definition());
    offset = MINUTE - 50;
    service.start();
    for (let i = 0; i < 500 && launched.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await service.stop();
    expect(launched).toEqual(["etl_pipeline"]);
  });
});
