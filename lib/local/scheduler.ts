/**
 * Schedules on the embedded default. In AWS a schedule is an EventBridge rule or Scheduler
 * schedule whose target is the launch Lambda; here the same definitions are kept in
 * `<dataDir>/schedules.json`, their fire times come from the same expression evaluator
 * (`lib/infra/schedule-expression.ts`), and at each fire time the same launch event is handed
 * to the same launch logic. The clock is injectable so tests need not wait a minute.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { ConfigurationError, ValidationError } from "../errors";
import {
  nextFireTime,
  parseScheduleExpression,
  type ParsedSchedule,
} from "../schedules/expression";
import type {
  LaunchEventInput,
  Schedule,
  ScheduleDefinition,
  ScheduleService,
} from "../schedules/types";
import { firingKey, validateScheduleDefinition } from "../schedules/validate";

export const SCHEDULES_FILE_NAME = "schedules.json";

/** Delivers one schedule's launch event, exactly as EventBridge delivers it to the Lambda. */
export type ScheduleLauncher = (input: LaunchEventInput, schedule: Schedule) => Promise<unknown>;

export interface Clock {
  now(): Date;
}

export interface LocalScheduleServiceOptions {
  /** `<dataDir>/schedules.json`. */
  readonly file: string;
  readonly launch: ScheduleLauncher;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** A fire that threw (the launch itself records failed runs; this is for the console). */
  readonly onError?: (error: unknown, schedule: Schedule) => void;
  /** After each fire, with what the launch returned. */
  readonly onFire?: (schedule: Schedule, result: unknown) => void;
  /** Upper bound of one timer wait, so clock jumps (sleep, NTP) are noticed. Default 30 s. */
  readonly maxSleepMs?: number;
}

interface StoredSchedule extends ScheduleDefinition {
  /** Rates fire at `created_at + k * interval`, as an EventBridge rule created then would. */
  readonly created_at: string;
}

interface ScheduleFile {
  readonly version: 1;
  readonly schedules: StoredSchedule[];
}

interface Entry {
  readonly stored: StoredSchedule;
  readonly parsed: ParsedSchedule;
  /** Undefined when the schedule never fires again (its years are over). */
  next: Date | undefined;
}

function key(orgId: string, name: string): string {
  return `${orgId}\u0000${name}`;
}

/** Named as the EventBridge implementation names it, so the same length limit applies. */
function resourceNameOf(orgId: string, name: string): string {
  return `dagy-${orgId}-${name}`;
}

function toSchedule(stored: StoredSchedule): Schedule {
  const { created_at: _createdAt, ...definition } = stored;
  return { ...definition, resourceName: resourceNameOf(stored.orgId, stored.name), kind: "local" };
}

/** The checks every schedule implementation applies, plus the launch event's identity. */
function validateDefinition(definition: ScheduleDefinition): ParsedSchedule {
  if (definition.orgId === "") throw new ValidationError("org_id: required", "org_id");
  validateScheduleDefinition(definition, resourceNameOf(definition.orgId, definition.name));
  if (definition.input.action !== "launch") {
    throw new ValidationError('input.action: must be "launch"', "input.action");
  }
  if (definition.input.org_id !== definition.orgId) {
    throw new ValidationError(
      `input.org_id: "${definition.input.org_id}" must be the schedule's org "${definition.orgId}"`,
      "input.org_id",
    );
  }
  return parseScheduleExpression(definition.expression);
}

export class LocalScheduleService implements ScheduleService {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Serializes file writes so two quick puts cannot interleave. */
  private writeChain: Promise<void> = Promise.resolve();

  private constructor(private readonly options: LocalScheduleServiceOptions) {
    this.clock = options.clock ?? { now: () => new Date() };
  }

  /** Loads `file` (missing = no schedules). A malformed file is a ConfigurationError. */
  static async open(options: LocalScheduleServiceOptions): Promise<LocalScheduleService> {
    const service = new LocalScheduleService(options);
    await service.load();
    return service;
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    let parsed: ScheduleFile;
    try {
      parsed = JSON.parse(text) as ScheduleFile;
    } catch (error) {
      throw new ConfigurationError(
        `${this.options.file} is not valid JSON (${(error as Error).message}); fix or delete it`,
      );
    }
    if (!Array.isArray(parsed.schedules)) {
      throw new ConfigurationError(`${this.options.file}: "schedules" must be an array`);
    }
    const now = this.clock.now();
    for (const stored of parsed.schedules) {
      let expression: ParsedSchedule;
      try {
        expression = validateDefinition(stored);
      } catch (error) {
        throw new ConfigurationError(
          `${this.options.file}: schedule "${String(stored.name)}": ${(error as Error).message}`,
        );
      }
      this.entries.set(key(stored.orgId, stored.name), {
        stored,
        parsed: expression,
        next: this.computeNext(stored, expression, now),
      });
    }
  }

  private computeNext(stored: StoredSchedule, parsed: ParsedSchedule, after: Date) {
    if (!stored.enabled) return undefined;
    return nextFireTime(parsed, after, {
      ...(stored.timeZone !== undefined ? { timeZone: stored.timeZone } : {}),
      anchor: new Date(stored.created_at),
    });
  }

  private persist(): Promise<void> {
    const file: ScheduleFile = {
      version: 1,
      schedules: [...this.entries.values()].map((e) => e.stored),
    };
    const text = `${JSON.stringify(file, null, 2)}\n`;
    const write = async () => {
      await mkdir(dirname(this.options.file), { recursive: true });
      // Write then rename: a crash never leaves a half-written file behind.
      const tmp = `${this.options.file}.${process.pid}.tmp`;
      // Schedules carry launch parameters: readable by this user only.
      await writeFile(tmp, text, { encoding: "utf8", mode: 0o600 });
      await rename(tmp, this.options.file);
    };
    this.writeChain = this.writeChain.then(write, write);
    return this.writeChain;
  }

  async put(definition: ScheduleDefinition): Promise<Schedule> {
    const parsed = validateDefinition(definition);
    const k = key(definition.orgId, definition.name);
    const previous = this.entries.get(k);
    const now = this.clock.now();
    const stored: StoredSchedule = {
      ...definition,
      // Replacing a schedule keeps its rate anchor only when the expression is unchanged.
      created_at:
        previous && previous.stored.expression === definition.expression
          ? previous.stored.created_at
          : now.toISOString(),
    };
    this.entries.set(k, { stored, parsed, next: this.computeNext(stored, parsed, now) });
    await this.persist();
    this.reschedule();
    return toSchedule(stored);
  }

  list(orgId: string): Promise<Schedule[]> {
    return Promise.resolve(
      [...this.entries.values()]
        .filter((e) => e.stored.orgId === orgId)
        .map((e) => toSchedule(e.stored))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
  }

  async delete(orgId: string, name: string): Promise<boolean> {
    if (!this.entries.delete(key(orgId, name))) return false;
    await this.persist();
    this.reschedule();
    return true;
  }

  /** When the schedule fires next, or undefined (disabled, unknown, or never again). */
  nextFire(orgId: string, name: string): Date | undefined {
    return this.entries.get(key(orgId, name))?.next;
  }

  /**
   * Fires every schedule that is due at the clock's current time, once each (missed intervals
   * while the platform was down are not replayed, as EventBridge does not replay them either),
   * and waits for those launches. Returns how many fired. The timer loop calls this; tests
   * call it directly after moving the clock.
   */
  async tick(): Promise<number> {
    const now = this.clock.now();
    const due: Array<{ entry: Entry; scheduledTime: Date }> = [];
    for (const entry of this.entries.values()) {
      if (entry.next !== undefined && entry.next.getTime() <= now.getTime()) {
        due.push({ entry, scheduledTime: entry.next });
        entry.next = this.computeNext(entry.stored, entry.parsed, now);
      }
    }
    await Promise.all(due.map(({ entry, scheduledTime }) => this.fire(entry, scheduledTime)));
    return due.length;
  }

  /** Launches one firing; its idempotency key makes a repeated firing launch nothing new. */
  private fire(entry: Entry, scheduledTime: Date): Promise<void> {
    const schedule = toSchedule(entry.stored);
    const run = (async () => {
      try {
        const input = {
          ...entry.stored.input,
          idempotency_key: firingKey(schedule.resourceName, scheduledTime.toISOString()),
        };
        const result = await this.options.launch(input, schedule);
        this.options.onFire?.(schedule, result);
      } catch (error) {
        this.options.onError?.(error, schedule);
      }
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  /** Starts firing on the real timer. */
  start(): void {
    this.running = true;
    this.reschedule();
  }

  /** Stops the timer and waits for launches already under way. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
    await this.writeChain.catch(() => undefined);
  }

  private reschedule(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    let earliest: number | undefined;
    for (const entry of this.entries.values()) {
      const t = entry.next?.getTime();
      if (t !== undefined && (earliest === undefined || t < earliest)) earliest = t;
    }
    if (earliest === undefined) {
      this.timer = undefined;
      return;
    }
    const maxSleep = this.options.maxSleepMs ?? 30_000;
    const wait = Math.max(0, Math.min(earliest - this.clock.now().getTime(), maxSleep));
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.reschedule());
    }, wait);
    // The HTTP server keeps the process alive; a pending schedule alone must not.
    this.timer.unref();
  }
}
