import { Duration, Stack, TimeZone } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as schedulerTargets from "aws-cdk-lib/aws-scheduler-targets";
import { Construct } from "constructs";
import type { Json } from "../../sdk/types";
import type { ScheduleConfig } from "../config";
import type { DagyEnvironment } from "../environments";
import { HANDLER_ENV } from "../../config/env";
import { FUNCTION_ENV } from "../../config/env";
import { acknowledgeWildcards } from "../nag";
import type { DagyFunction } from "./dagy-function";

/** Actions the API needs to manage runtime schedule rules under its prefix. */
export const RUNTIME_SCHEDULE_RULE_ACTIONS = [
  "events:PutRule",
  "events:DeleteRule",
  "events:DescribeRule",
  "events:EnableRule",
  "events:DisableRule",
  "events:PutTargets",
  "events:RemoveTargets",
  "events:ListTargetsByRule",
] as const;

/** Actions the API needs on time-zoned runtime schedules (EventBridge Scheduler) in its group. */
export const RUNTIME_SCHEDULER_ACTIONS = [
  "scheduler:CreateSchedule",
  "scheduler:UpdateSchedule",
  "scheduler:DeleteSchedule",
  "scheduler:GetSchedule",
] as const;

export interface SchedulesConstructProps {
  /** Schedules declared in config. */
  readonly schedules: readonly ScheduleConfig[];
  /** Names the rule or Scheduler schedule of a config schedule. */
  readonly resourceNameFor: (scheduleName: string) => string;
  /** Target of every schedule. */
  readonly launchFunction: lambda.IFunction;
  /** Sent as `environment` in every launch event. */
  readonly environment: DagyEnvironment;
  /**
   * Prefix of runtime schedules (created by the API at run time), `<appName>-<env>-`: rules,
   * and Scheduler schedules in the runtime schedule group.
   */
  readonly runtimePrefix: string;
  /** Scheduler group of time-zoned runtime schedules. */
  readonly runtimeScheduleGroupName: string;
}

/**
 * Launches flows on schedules. A config schedule without a time zone is an EventBridge rule
 * (UTC); with a time zone it is an EventBridge Scheduler schedule in that zone. Both invoke the
 * launch function with the guide's launch event, plus an idempotency key made of the schedule's
 * name and the firing's scheduled time, the same for every retry of one firing, so a retried
 * delivery cannot launch twice.
 *
 * Runtime schedules (the API's POST /schedules) are named under `runtimePrefix`: UTC ones are
 * rules, and the launch function carries one resource-based permission for all of them, so the
 * API needs no `lambda:AddPermission`; time-zoned ones are Scheduler schedules in their own
 * group, invoking through the shared Scheduler role.
 */
export class SchedulesConstruct extends Construct {
  readonly rules: events.Rule[] = [];
  readonly schedulerSchedules: scheduler.Schedule[] = [];
  /** Role EventBridge Scheduler assumes to invoke the launch function. */
  readonly schedulerRole: iam.Role;
  /** Group of time-zoned runtime schedules. */
  readonly runtimeScheduleGroup: scheduler.ScheduleGroup;
  private readonly runtimePrefix: string;
  private readonly runtimeRuleArnPattern: string;
  private readonly runtimeScheduleArnPattern: string;
  private readonly launchFunction: lambda.IFunction;

  constructor(scope: Construct, id: string, props: SchedulesConstructProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.launchFunction = props.launchFunction;
    this.runtimePrefix = props.runtimePrefix;
    this.runtimeRuleArnPattern = stack.formatArn({
      service: "events",
      resource: "rule",
      resourceName: `${props.runtimePrefix}*`,
    });
    this.runtimeScheduleGroup = new scheduler.ScheduleGroup(this, "RuntimeScheduleGroup", {
      scheduleGroupName: props.runtimeScheduleGroupName,
    });
    this.runtimeScheduleArnPattern = stack.formatArn({
      service: "scheduler",
      resource: "schedule",
      resourceName: `${props.runtimeScheduleGroupName}/${props.runtimePrefix}*`,
    });
    this.schedulerRole = new iam.Role(this, "SchedulerRole", {
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": stack.account } },
      }),
      description: "EventBridge Scheduler: invoke the Dagy launch function",
    });
    props.launchFunction.grantInvoke(this.schedulerRole);
    acknowledgeWildcards(this.schedulerRole, [
      {
        resource: `${props.launchFunction.functionArn}:*`,
        reason:
          "Versions and aliases of the launch function (CDK's grantInvoke); no other function.",
      },
    ]);
    props.launchFunction.addPermission("InvokeByRuntimeScheduleRules", {
      principal: new iam.ServicePrincipal("events.amazonaws.com"),
      sourceArn: this.runtimeRuleArnPattern,
      sourceAccount: stack.account,
    });

    for (const schedule of props.schedules) {
      const name = props.resourceNameFor(schedule.name);
      const description = `Dagy: launch ${schedule.flowName} for ${schedule.orgId} (${schedule.expression}${schedule.timeZone ? ` ${schedule.timeZone}` : ""})`;
      if (schedule.timeZone === undefined) {
        const input = launchEvent(
          schedule,
          props.environment,
          name,
          events.EventField.fromPath("$.time"),
        );
        this.rules.push(
          new events.Rule(this, `Rule-${schedule.name}`, {
            ruleName: name,
            description,
            enabled: schedule.enabled,
            schedule: events.Schedule.expression(schedule.expression),
            targets: [
              new targets.LambdaFunction(props.launchFunction, {
                event: events.RuleTargetInput.fromObject(input),
                retryAttempts: 2,
                maxEventAge: Duration.hours(1),
              }),
            ],
          }),
        );
      } else {
        const input = launchEvent(
          schedule,
          props.environment,
          name,
          scheduler.ContextAttribute.scheduledTime,
        );
        this.schedulerSchedules.push(
          new scheduler.Schedule(this, `Schedule-${schedule.name}`, {
            scheduleName: name,
            description,
            enabled: schedule.enabled,
            schedule: scheduler.ScheduleExpression.expression(
              schedule.expression,
              TimeZone.of(schedule.timeZone),
            ),
            target: new schedulerTargets.LambdaInvoke(props.launchFunction, {
              role: this.schedulerRole,
              input: scheduler.ScheduleTargetInput.fromObject(input),
              retryAttempts: 2,
              maxEventAge: Duration.hours(1),
            }),
          }),
        );
      }
    }
  }

  /**
   * Gives `fn` (the API) runtime schedules: sets the prefix, launch target, Scheduler role and
   * group variables, and grants rule and schedule actions on names under the runtime prefix
   * only. events:ListRules and scheduler:ListSchedules support no resource-level permission and
   * return names and settings only.
   */
  bindTo(fn: DagyFunction): void {
    fn.setEnvironment(FUNCTION_ENV.scheduleRulePrefix, this.runtimePrefix)
      .setEnvironment(FUNCTION_ENV.launchFunctionArn, this.launchFunction.functionArn)
      .setEnvironment(HANDLER_ENV.schedulerRoleArn, this.schedulerRole.roleArn)
      .setEnvironment(HANDLER_ENV.schedulerGroup, this.runtimeScheduleGroup.scheduleGroupName);
    const grantee = fn.function;
    iam.Grant.addToPrincipal({
      grantee,
      actions: [...RUNTIME_SCHEDULE_RULE_ACTIONS],
      resourceArns: [this.runtimeRuleArnPattern],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: [...RUNTIME_SCHEDULER_ACTIONS],
      resourceArns: [this.runtimeScheduleArnPattern],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["events:ListRules", "scheduler:ListSchedules"],
      resourceArns: ["*"],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["iam:PassRole"],
      resourceArns: [this.schedulerRole.roleArn],
      conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    });
    acknowledgeWildcards(fn.role, [
      {
        resource: this.runtimeRuleArnPattern,
        reason:
          "Runtime schedule rules are named by users at run time, under the <appName>-<env>- prefix only.",
      },
      {
        resource: this.runtimeScheduleArnPattern,
        reason:
          "Time-zoned runtime schedules are named by users at run time, in the Dagy group and under the prefix only.",
      },
      {
        resource: "*",
        reason:
          "events:ListRules and scheduler:ListSchedules support no resource-level permission; they list names and settings, no data.",
      },
    ]);
  }
}

/**
 * The guide's launch event, `{"action":"launch","flow_name",...}`, with the schedule's optional
 * launch fields in snake_case. `scheduledTime` (a placeholder EventBridge fills in per firing)
 * makes the idempotency key `<resourceName>@<scheduled time>`.
 */
export function launchEvent(
  schedule: ScheduleConfig,
  environment: DagyEnvironment,
  resourceName: string,
  scheduledTime: string,
): Record<string, Json> {
  const event: Record<string, Json> = {
    action: "launch",
    flow_name: schedule.flowName,
    org_id: schedule.orgId,
    environment,
  };
  if (schedule.flowVersion !== undefined) event.flow_version = schedule.flowVersion;
  if (schedule.parameters !== undefined) event.parameters = schedule.parameters;
  if (schedule.workloadProfile !== undefined) event.workload_profile = schedule.workloadProfile;
  if (schedule.deploymentName !== undefined) event.deployment_name = schedule.deploymentName;
  event.trigger_source = "schedule";
  event.triggered_by = resourceName;
  event.idempotency_key = `${resourceName}@${scheduledTime}`;
  return event;
}
