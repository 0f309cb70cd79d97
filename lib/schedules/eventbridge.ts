/**
 * Runtime schedules on AWS. A schedule in UTC is an EventBridge rule, exactly as the guide
 * creates one by hand (PutRule + PutTargets with Id "1", the launch Lambda as target and the
 * launch event as constant Input). A schedule with a time zone is an EventBridge Scheduler
 * schedule, because rules only run in UTC.
 *
 * Resource names are `<prefix><org_id>-<name>`. Because an org id may itself contain `-`, the
 * name alone does not prove ownership: the target's Input (`org_id`) does, and is checked before
 * a schedule is listed, replaced or deleted.
 */
import {
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  DeleteRuleCommand,
  type EventBridgeClient,
  type Rule,
} from "@aws-sdk/client-eventbridge";
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";
import { ConflictError, ValidationError } from "../errors";
import type { LaunchEventInput, Schedule, ScheduleDefinition, ScheduleService } from "./types";
import {
  firingKey,
  isUtc,
  parseLaunchEventInput,
  RULE_SCHEDULED_TIME,
  SCHEDULER_SCHEDULED_TIME,
  validateScheduleDefinition,
} from "./validate";

/** Target id used for the launch Lambda, as in the guide's `put-targets` example. */
export const SCHEDULE_TARGET_ID = "1";

export interface EventBridgeScheduleServiceOptions {
  readonly events: EventBridgeClient;
  /** ARN of the launch Lambda every schedule targets. */
  readonly launchFunctionArn: string;
  /** Prefix of rule and schedule names. Default `dagy-`. */
  readonly namePrefix?: string;
  /** Needed only for schedules with a time zone. Without it, `time_zone` is refused (400). */
  readonly scheduler?: SchedulerClient;
  /** Role EventBridge Scheduler assumes to invoke the launch Lambda. */
  readonly schedulerRoleArn?: string;
  /** Scheduler schedule group. Default `default`. */
  readonly schedulerGroup?: string;
}

interface Owned {
  readonly kind: Schedule["kind"];
  readonly orgId: string | undefined;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function isNotFound(error: unknown): boolean {
  return errorName(error) === "ResourceNotFoundException";
}

export class EventBridgeScheduleService implements ScheduleService {
  private readonly prefix: string;
  private readonly group: string;

  constructor(private readonly options: EventBridgeScheduleServiceOptions) {
    this.prefix = options.namePrefix ?? "dagy-";
    this.group = options.schedulerGroup ?? "default";
  }

  resourceName(orgId: string, name: string): string {
    return `${this.prefix}${orgId}-${name}`;
  }

  async put(definition: ScheduleDefinition): Promise<Schedule> {
    const resourceName = this.resourceName(definition.orgId, definition.name);
    validateScheduleDefinition(definition, resourceName);
    const zoned = definition.timeZone !== undefined && !isUtc(definition.timeZone);
    if (zoned && !this.schedulerEnabled()) {
      throw new ValidationError(
        "time_zone: schedules with a time zone are not enabled in this deployment " +
          "(no EventBridge Scheduler role configured); omit time_zone to schedule in UTC",
        "time_zone",
      );
    }
    const owners = await this.owners(resourceName);
    if (owners.some((o) => o.orgId !== definition.orgId)) {
      throw new ConflictError(
        `name: a schedule named "${resourceName}" already exists for another organization; ` +
          "choose another name",
      );
    }
    // Each firing carries its own idempotency key (resource name + scheduled time).
    const keyed = (time: string) =>
      JSON.stringify({ ...definition.input, idempotency_key: firingKey(resourceName, time) });
    if (zoned) {
      if (owners.some((o) => o.kind === "eventbridge-rule")) await this.deleteRule(resourceName);
      await this.putSchedule(resourceName, definition, keyed(SCHEDULER_SCHEDULED_TIME));
      return { ...definition, resourceName, kind: "eventbridge-scheduler" };
    }
    if (owners.some((o) => o.kind === "eventbridge-scheduler")) {
      await this.deleteSchedule(resourceName);
    }
    await this.options.events.send(
      new PutRuleCommand({
        Name: resourceName,
        ScheduleExpression: definition.expression,
        State: definition.enabled ? "ENABLED" : "DISABLED",
        Description:
          definition.description ?? `Dagy schedule: launch ${definition.input.flow_name}`,
      }),
    );
    const targets = await this.options.events.send(
      new PutTargetsCommand({
        Rule: resourceName,
        Targets: [
          {
            Id: SCHEDULE_TARGET_ID,
            Arn: this.options.launchFunctionArn,
            // A scheduled event's `time` is its scheduled time, the same on every delivery.
            InputTransformer: {
              InputPathsMap: { time: "$.time" },
              InputTemplate: keyed(RULE_SCHEDULED_TIME),
            },
          },
        ],
      }),
    );
    if ((targets.FailedEntryCount ?? 0) > 0) {
      const entry = targets.FailedEntries?.[0];
      throw new Error(
        `EventBridge refused the target of rule ${resourceName}: ` +
          `${entry?.ErrorCode ?? "unknown"} ${entry?.ErrorMessage ?? ""}`.trim(),
      );
    }
    const { timeZone: _ignored, ...utc } = definition;
    return { ...utc, resourceName, kind: "eventbridge-rule" };
  }

  async list(orgId: string): Promise<Schedule[]> {
    const namePrefix = `${this.prefix}${orgId}-`;
    const schedules: Schedule[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.options.events.send(
        new ListRulesCommand({ NamePrefix: namePrefix, NextToken: nextToken }),
      );
      for (const rule of page.Rules ?? []) {
        const schedule = await this.ruleSchedule(rule, orgId, namePrefix);
        if (schedule) schedules.push(schedule);
      }
      nextToken = page.NextToken;
    } while (nextToken);
    if (this.options.scheduler) {
      let token: string | undefined;
      do {
        const page = await this.options.scheduler.send(
          new ListSchedulesCommand({
            GroupName: this.group,
            NamePrefix: namePrefix,
            NextToken: token,
          }),
        );
        for (const summary of page.Schedules ?? []) {
          if (!summary.Name) continue;
          const schedule = await this.schedulerSchedule(summary.Name, orgId, namePrefix);
          if (schedule) schedules.push(schedule);
        }
        token = page.NextToken;
      } while (token);
    }
    return schedules.sort((a, b) => a.name.localeCompare(b.name));
  }

  async delete(orgId: string, name: string): Promise<boolean> {
    const resourceName = this.resourceName(orgId, name);
    const owned = (await this.owners(resourceName)).filter((o) => o.orgId === orgId);
    for (const owner of owned) {
      if (owner.kind === "eventbridge-rule") await this.deleteRule(resourceName);
      else await this.deleteSchedule(resourceName);
    }
    return owned.length > 0;
  }

  private schedulerEnabled(): boolean {
    return this.options.scheduler !== undefined && this.options.schedulerRoleArn !== undefined;
  }

  /** Existing rule and/or Scheduler schedule of that name, with the org their input names. */
  private async owners(resourceName: string): Promise<Owned[]> {
    const owners: Owned[] = [];
    const ruleInput = await this.ruleInput(resourceName);
    if (ruleInput !== null) owners.push({ kind: "eventbridge-rule", orgId: ruleInput?.org_id });
    if (this.options.scheduler) {
      try {
        const schedule = await this.options.scheduler.send(
          new GetScheduleCommand({ Name: resourceName, GroupName: this.group }),
        );
        const input = parseLaunchEventInput(schedule.Target?.Input);
        owners.push({ kind: "eventbridge-scheduler", orgId: input?.org_id });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return owners;
  }

  /** The launch input of a rule's target; `null` when the rule does not exist. */
  private async ruleInput(ruleName: string): Promise<LaunchEventInput | undefined | null> {
    try {
      const targets = await this.options.events.send(
        new ListTargetsByRuleCommand({ Rule: ruleName }),
      );
      const target = targets.Targets?.find((t) => t.Id === SCHEDULE_TARGET_ID);
      return parseLaunchEventInput(target?.InputTransformer?.InputTemplate ?? target?.Input);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  private async ruleSchedule(
    rule: Rule,
    orgId: string,
    namePrefix: string,
  ): Promise<Schedule | undefined> {
    if (!rule.Name || !rule.ScheduleExpression) return undefined;
    const input = await this.ruleInput(rule.Name);
    if (!input || input.org_id !== orgId) return undefined;
    return {
      name: rule.Name.slice(namePrefix.length),
      orgId,
      expression: rule.ScheduleExpression,
      enabled: rule.State === "ENABLED",
      ...(rule.Description ? { description: rule.Description } : {}),
      input,
      resourceName: rule.Name,
      kind: "eventbridge-rule",
    };
  }

  private async schedulerSchedule(
    resourceName: string,
    orgId: string,
    namePrefix: string,
  ): Promise<Schedule | undefined> {
    const scheduler = this.options.scheduler;
    if (!scheduler) return undefined;
    let schedule;
    try {
      schedule = await scheduler.send(
        new GetScheduleCommand({ Name: resourceName, GroupName: this.group }),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined; // deleted between list and get
      throw error;
    }
    const input = parseLaunchEventInput(schedule.Target?.Input);
    if (!input || input.org_id !== orgId || !schedule.ScheduleExpression) return undefined;
    return {
      name: resourceName.slice(namePrefix.length),
      orgId,
      expression: schedule.ScheduleExpression,
      ...(schedule.ScheduleExpressionTimezone
        ? { timeZone: schedule.ScheduleExpressionTimezone }
        : {}),
      enabled: schedule.State === "ENABLED",
      ...(schedule.Description ? { description: schedule.Description } : {}),
      input,
      resourceName,
      kind: "eventbridge-scheduler",
    };
  }

  private async putSchedule(
    resourceName: string,
    definition: ScheduleDefinition,
    input: string,
  ): Promise<void> {
    const scheduler = this.options.scheduler as SchedulerClient;
    const request: CreateScheduleCommandInput = {
      Name: resourceName,
      GroupName: this.group,
      ScheduleExpression: definition.expression,
      ScheduleExpressionTimezone: definition.timeZone,
      State: definition.enabled ? "ENABLED" : "DISABLED",
      Description: definition.description ?? `Dagy schedule: launch ${definition.input.flow_name}`,
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: this.options.launchFunctionArn,
        RoleArn: this.options.schedulerRoleArn,
        Input: input,
      },
    };
    try {
      await scheduler.send(new CreateScheduleCommand(request));
    } catch (error) {
      if (errorName(error) !== "ConflictException") throw error;
      // Same name already scheduled for this org (checked by the caller): replace it.
      await scheduler.send(new UpdateScheduleCommand(request));
    }
  }

  private async deleteRule(ruleName: string): Promise<void> {
    try {
      await this.options.events.send(
        new RemoveTargetsCommand({ Rule: ruleName, Ids: [SCHEDULE_TARGET_ID] }),
      );
      await this.options.events.send(new DeleteRuleCommand({ Name: ruleName }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  private async deleteSchedule(resourceName: string): Promise<void> {
    const scheduler = this.options.scheduler;
    if (!scheduler) return;
    try {
      await scheduler.send(
        new DeleteScheduleCommand({ Name: resourceName, GroupName: this.group }),
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
