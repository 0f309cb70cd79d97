/**
 * Runtime schedules: create (checked against the flow it launches), list, delete. A schedule
 * that could never work is refused when it is created, not discovered at every firing: an
 * expression that never fires or whose next fire time overflows, an unregistered flow or
 * version, parameters the flow does not accept or required ones it lacks.
 */
import { ScheduleNotFoundError } from "../errors";
import { toWire } from "../launcher/request";
import type { Persistence } from "../persistence/persistence";
import { resolveParameters } from "../sdk/parameters";
import type { FlowSpec } from "../sdk/types";
import { nextFireTime } from "../schedules/expression";
import { buildLaunchEvent } from "../schedules/launch-event";
import { validateScheduleTiming } from "../schedules/validate";
import type { Schedule, ScheduleService as ScheduleStore } from "../schedules/types";
import { requiredOrg, type Caller } from "./caller";
import type { LaunchInput } from "./runs";
import { checkSecretArns, type SecretPolicy } from "./secrets";

export interface ScheduleInput {
  readonly orgId?: string;
  readonly name: string;
  readonly expression: string;
  readonly timeZone?: string;
  readonly enabled?: boolean;
  readonly description?: string;
  /** What each firing launches (the flow name among it). */
  readonly launch: Omit<LaunchInput, "orgId" | "idempotencyKey">;
}

export interface ScheduleView extends Schedule {
  /** Next firing after now; absent when disabled. */
  readonly nextFireAt?: string;
  /** The newest run a firing launched, if any is recent. */
  readonly lastFiring?: {
    readonly runId: string;
    readonly status: string;
    readonly at: string;
    readonly error?: string;
  };
}

/** How many of a flow's newest runs are searched for a schedule's last firing. */
const LAST_FIRING_WINDOW = 50;

export interface SchedulesServiceDeps {
  readonly store: ScheduleStore;
  readonly persistence: Pick<Persistence, "flows" | "runs">;
  /** What launches default to. */
  readonly environment?: string;
  readonly clock?: () => Date;
  /** Which secrets a schedule's launches may name. Default: any. */
  readonly secrets?: SecretPolicy;
}

export class SchedulesService {
  private readonly clock: () => Date;
  constructor(private readonly deps: SchedulesServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  async create(caller: Caller, input: ScheduleInput): Promise<ScheduleView> {
    const orgId = requiredOrg(caller, input.orgId);
    checkSecretArns(
      input.launch.secretsEnv,
      this.deps.secrets ?? { arnPatterns: [] },
      caller,
      orgId,
    );
    const next = validateScheduleTiming(input.expression, input.timeZone, this.clock());
    const launch = { ...input.launch };
    // Refuse schedules for flows (or versions) that are not registered: they would only fail.
    const flow = await this.deps.persistence.flows.resolve(
      orgId,
      launch.flowName,
      launch.flowVersion ?? "latest",
    );
    // And schedules whose parameters the flow refuses: every firing would fail the same way.
    resolveParameters(JSON.parse(flow.spec) as FlowSpec, launch.parameters ?? {});
    const input_ = buildLaunchEvent(
      toWire({
        ...(this.deps.environment ? { environment: this.deps.environment } : {}),
        ...launch,
        orgId,
        triggerSource: "schedule",
        triggeredBy: `schedule:${input.name}`,
      }),
    );
    const schedule = await this.deps.store.put({
      name: input.name,
      orgId,
      expression: input.expression,
      ...(input.timeZone !== undefined ? { timeZone: input.timeZone } : {}),
      enabled: input.enabled ?? true,
      ...(input.description !== undefined ? { description: input.description } : {}),
      input: input_,
    });
    return this.view(schedule, next);
  }

  async list(caller: Caller, requestedOrgId?: string): Promise<ScheduleView[]> {
    const orgId = requiredOrg(caller, requestedOrgId);
    const schedules = await this.deps.store.list(orgId);
    return Promise.all(
      schedules.map(async (s) => ({
        ...this.view(s, this.nextOf(s.expression, s.timeZone)),
        ...(await this.lastFiring(orgId, s)),
      })),
    );
  }

  async delete(caller: Caller, name: string, requestedOrgId?: string): Promise<void> {
    const orgId = requiredOrg(caller, requestedOrgId);
    if (!(await this.deps.store.delete(orgId, name))) {
      throw new ScheduleNotFoundError(`Schedule not found: ${name}`);
    }
  }

  /** The newest run whose trigger is this schedule, among the flow's newest runs. */
  private async lastFiring(orgId: string, schedule: Schedule): Promise<Partial<ScheduleView>> {
    const triggeredBy = schedule.input.triggered_by;
    if (typeof triggeredBy !== "string") return {};
    const page = await this.deps.persistence.runs.list({
      orgId,
      flowName: schedule.input.flow_name,
      limit: LAST_FIRING_WINDOW,
    });
    const run = page.items.find(
      (r) => r.trigger_source === "schedule" && r.triggered_by === triggeredBy,
    );
    if (!run) return {};
    return {
      lastFiring: {
        runId: run.run_id,
        status: run.status,
        at: run.created_at,
        ...(run.error_message ? { error: run.error_message } : {}),
      },
    };
  }

  private view(schedule: Schedule, next: Date | undefined): ScheduleView {
    return {
      ...schedule,
      ...(schedule.enabled && next !== undefined ? { nextFireAt: next.toISOString() } : {}),
    };
  }

  private nextOf(expression: string, timeZone: string | undefined): Date | undefined {
    try {
      return nextFireTime(expression, this.clock(), timeZone ? { timeZone } : {});
    } catch {
      return undefined;
    }
  }
}
