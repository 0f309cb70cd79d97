import { RunTaskCommand } from "@aws-sdk/client-ecs";
import { SchedulesService } from "../../lib/services/schedules";
import {
  DeleteRuleCommand,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ResourceNotFoundException as EventsNotFound,
} from "@aws-sdk/client-eventbridge";
import {
  CreateScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException as SchedulerNotFound,
} from "@aws-sdk/client-scheduler";
import { httpEvent } from "./fixtures";
import {
  bodyOf,
  LAUNCH_FUNCTION_ARN,
  registerFlow,
  SCHEDULER_ROLE_ARN,
  startHarness,
  type Harness,
} from "./harness";
import { EventBridgeScheduleService } from "../../lib/schedules/eventbridge";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";

let h: Harness;

const GUIDE_INPUT =
  '{"action":"launch","flow_name":"etl_pipeline","org_id":"acme-corp","environment":"production",' +
  '"trigger_source":"schedule","triggered_by":"schedule:etl-daily"}';

function eventsNotFound(): EventsNotFound {
  return new EventsNotFound({ message: "Rule does not exist", $metadata: {} });
}
function schedulerNotFound(): SchedulerNotFound {
  return new SchedulerNotFound({
    message: "Schedule does not exist",
    Message: "Schedule does not exist",
    $metadata: {},
  });
}

beforeAll(async () => {
  h = await startHarness();
  await registerFlow(h.persistence, "acme-corp", "etl_pipeline", "1.0.0", h.env.buckets.artifacts);
});

afterAll(async () => {
  await h.close();
});

beforeEach(() => {
  h.events.reset();
  h.scheduler.reset();
  // Nothing exists yet unless a test says so.
  h.events.on(ListTargetsByRuleCommand).rejects(eventsNotFound());
  h.scheduler.on(GetScheduleCommand).rejects(schedulerNotFound());
  h.events.on(PutRuleCommand).resolves({ RuleArn: "arn:aws:events:us-east-1:123456789012:rule/x" });
  h.events.on(PutTargetsCommand).resolves({ FailedEntryCount: 0, FailedEntries: [] });
});

describe("POST /schedules", () => {
  it("creates the guide's rule: exact PutRule and PutTargets with the guide's launch input", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "etl-daily",
          org_id: "acme-corp",
          flow_name: "etl_pipeline",
          expression: "cron(0 9 * * ? *)",
          description: "Run ETL pipeline daily at 9 AM UTC",
        },
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(h.events.commandCalls(PutRuleCommand).map((c) => c.args[0].input)).toEqual([
      {
        Name: "dagy-acme-corp-etl-daily",
        ScheduleExpression: "cron(0 9 * * ? *)",
        State: "ENABLED",
        Description: "Run ETL pipeline daily at 9 AM UTC",
      },
    ]);
    expect(h.events.commandCalls(PutTargetsCommand).map((c) => c.args[0].input)).toEqual([
      {
        Rule: "dagy-acme-corp-etl-daily",
        Targets: [
          {
            Id: "1",
            Arn: LAUNCH_FUNCTION_ARN,
            // The guide's input plus a per-firing idempotency key: EventBridge delivers at least
            // once, and a scheduled event's `time` is the same on every delivery.
            InputTransformer: {
              InputPathsMap: { time: "$.time" },
              InputTemplate: GUIDE_INPUT.replace(
                /}$/,
                ',"idempotency_key":"dagy-acme-corp-etl-daily@<time>"}',
              ),
            },
          },
        ],
      },
    ]);
    expect(bodyOf(response)).toEqual({
      name: "etl-daily",
      org_id: "acme-corp",
      flow_name: "etl_pipeline",
      expression: "cron(0 9 * * ? *)",
      time_zone: "UTC",
      enabled: true,
      description: "Run ETL pipeline daily at 9 AM UTC",
      launch: {
        environment: "production",
        trigger_source: "schedule",
        triggered_by: "schedule:etl-daily",
      },
      resource_name: "dagy-acme-corp-etl-daily",
      // Daily at 09:00 UTC: the next 09:00 after now.
      next_fire_at: expect.stringMatching(/T09:00:00\.000Z$/),
      last_firing: null,
      kind: "eventbridge-rule",
    });
  });

  it("carries launch fields into the input and can create the rule disabled", async () => {
    await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "etl-hourly",
          org_id: "acme-corp",
          flow_name: "etl_pipeline",
          flow_version: "1.0.0",
          expression: "rate(1 hour)",
          enabled: false,
          parameters: { source: "s3://data-input" },
          workload_profile: "large",
        },
      }),
    );
    const rule = h.events.commandCalls(PutRuleCommand)[0]!.args[0].input;
    expect(rule).toMatchObject({ State: "DISABLED", ScheduleExpression: "rate(1 hour)" });
    const input = JSON.parse(
      h.events.commandCalls(PutTargetsCommand)[0]!.args[0].input.Targets![0]!.InputTransformer!
        .InputTemplate!,
    ) as unknown;
    expect(input).toEqual({
      action: "launch",
      flow_name: "etl_pipeline",
      org_id: "acme-corp",
      environment: "production",
      flow_version: "1.0.0",
      parameters: { source: "s3://data-input" },
      trigger_source: "schedule",
      triggered_by: "schedule:etl-hourly",
      workload_profile: "large",
      idempotency_key: "dagy-acme-corp-etl-hourly@<time>",
    });
  });

  it("creates an EventBridge Scheduler schedule for a time zone: exact CreateSchedule", async () => {
    h.scheduler
      .on(CreateScheduleCommand)
      .resolves({ ScheduleArn: "arn:aws:scheduler:::schedule/default/x" });
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "etl-berlin",
          org_id: "acme-corp",
          flow_name: "etl_pipeline",
          expression: "cron(0 9 * * ? *)",
          time_zone: "Europe/Berlin",
        },
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(h.scheduler.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input)).toEqual([
      {
        Name: "dagy-acme-corp-etl-berlin",
        GroupName: "default",
        ScheduleExpression: "cron(0 9 * * ? *)",
        ScheduleExpressionTimezone: "Europe/Berlin",
        State: "ENABLED",
        Description: "Dagy schedule: launch etl_pipeline",
        FlexibleTimeWindow: { Mode: "OFF" },
        Target: {
          Arn: LAUNCH_FUNCTION_ARN,
          RoleArn: SCHEDULER_ROLE_ARN,
          // Scheduler substitutes the firing's scheduled time: one run per firing.
          Input: GUIDE_INPUT.replace("schedule:etl-daily", "schedule:etl-berlin").replace(
            /}$/,
            ',"idempotency_key":"dagy-acme-corp-etl-berlin@<aws.scheduler.scheduled-time>"}',
          ),
        },
      },
    ]);
    expect(h.events.commandCalls(PutRuleCommand)).toHaveLength(0);
    expect(bodyOf(response)).toMatchObject({
      time_zone: "Europe/Berlin",
      kind: "eventbridge-scheduler",
    });
  });

  it.each([
    [
      "an invalid cron expression",
      { expression: "cron(0 9 * * * *)" },
      /^expression: Invalid schedule expression "cron\(0 9 \* \* \* \*\)": day-of-month "\*" and day-of-week "\*" are both set/,
    ],
    [
      "an hour out of range",
      { expression: "cron(0 25 * * ? *)" },
      /^expression: .*hours field "25": 25 is out of range 0-23/,
    ],
    ["a wrong rate unit", { expression: "rate(1 hours)" }, /^expression: .*use "hour"/],
    [
      "an unknown time zone",
      { time_zone: "Mars/Olympus" },
      /^time_zone: "Mars\/Olympus" is not an IANA time zone name/,
    ],
    ["a name EventBridge refuses", { name: "daily run!" }, /^name: "daily run!" is invalid/],
    ["a missing expression", { expression: undefined }, /^expression: is required/],
    ["an unknown launch field", { workload_profle: "large" }, /unknown field workload_profle/],
    [
      "an idempotency key",
      { idempotency_key: "k" },
      /^idempotency_key: not accepted on a schedule/,
    ],
    [
      "a cron expression that never fires (30 February)",
      { expression: "cron(0 9 30 2 ? *)" },
      /^expression: "cron\(0 9 30 2 \? \*\)" never fires/,
    ],
    [
      "a rate whose next fire time overflows a date",
      { expression: "rate(200000000 days)" },
      /^expression: "rate\(200000000 days\)" first fires too far in the future/,
    ],
    ["a year that is over", { expression: "cron(0 9 * * ? 2001)" }, /^expression: .* never fires/],
    ["a control character in the name", { name: "etl\u0000daily" }, /^name: /],
  ])(
    "answers 400 with the precise reason for %s, creating nothing",
    async (_name, change, message) => {
      const response = await h.api().handle(
        httpEvent("POST", "/schedules", {
          body: {
            name: "etl-daily",
            org_id: "acme-corp",
            flow_name: "etl_pipeline",
            expression: "cron(0 9 * * ? *)",
            ...change,
          },
        }),
      );
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response).error).toMatch(message);
      expect(h.events.commandCalls(PutRuleCommand)).toHaveLength(0);
      expect(h.scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(0);
    },
  );

  it("answers 404 for a flow that is not registered, creating nothing", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: { name: "x", org_id: "acme-corp", flow_name: "nope", expression: "rate(1 day)" },
      }),
    );
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response).error).toMatch(/nope/);
    expect(h.events.commandCalls(PutRuleCommand)).toHaveLength(0);
  });

  it("answers 409 when the rule name belongs to another org's schedule", async () => {
    await registerFlow(h.persistence, "acme", "etl_pipeline");
    h.events.on(ListTargetsByRuleCommand, { Rule: "dagy-acme-corp-daily" }).resolves({
      Targets: [{ Id: "1", Arn: LAUNCH_FUNCTION_ARN, Input: GUIDE_INPUT }],
    });
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "corp-daily",
          org_id: "acme",
          flow_name: "etl_pipeline",
          expression: "rate(1 day)",
        },
      }),
    );
    expect(response.statusCode).toBe(409);
    expect(h.events.commandCalls(PutRuleCommand)).toHaveLength(0);
  });

  it("refuses time zones with a 400 when the deployment has no Scheduler role", async () => {
    const schedules = new EventBridgeScheduleService({
      events: new EventBridgeClient({ region: "us-east-1" }),
      launchFunctionArn: LAUNCH_FUNCTION_ARN,
    });
    const service = new SchedulesService({ store: schedules, persistence: h.persistence });
    const response = await h.api({ services: { schedules: service } }).handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "etl-berlin",
          org_id: "acme-corp",
          flow_name: "etl_pipeline",
          expression: "cron(0 9 * * ? *)",
          time_zone: "Europe/Berlin",
        },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(
      /^time_zone: schedules with a time zone are not enabled/,
    );
  });
});

describe("POST /schedules against the flow's declared parameters", () => {
  beforeAll(async () => {
    await h.persistence.flows.put({
      org_id: "acme-corp",
      flow_name: "needs_date",
      flow_version: "1.0.0",
      spec: JSON.stringify({
        spec_version: 1,
        name: "needs_date",
        version: "1.0.0",
        parameters: { date: { type: "string" }, limit: { type: "number", default: 10 } },
        tasks: [],
      }),
      artifact_s3_uri: "s3://artifacts/flows/needs_date/1.0.0/artifact.zip",
      artifact_sha256: "a".repeat(64),
      is_semver: true,
      registered_at: "2024-03-01T00:00:00.000Z",
    });
  });

  it.each([
    ["a missing required parameter", {}, /missing required parameter "date"/],
    [
      "a parameter of the wrong type",
      { date: "2024-03-14", limit: "ten" },
      /parameter "limit" must be of type number/,
    ],
  ])("answers 400 for %s: every firing would fail", async (_name, parameters, message) => {
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "needs-date-daily",
          org_id: "acme-corp",
          flow_name: "needs_date",
          expression: "cron(0 9 * * ? *)",
          parameters,
        },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(message);
    expect(h.events.commandCalls(PutRuleCommand)).toHaveLength(0);
  });
});

describe("GET /schedules", () => {
  it("lists the org's rules and Scheduler schedules, skipping another org's rule under the same prefix", async () => {
    h.events.on(ListRulesCommand).resolves({
      Rules: [
        {
          Name: "dagy-acme-corp-etl-daily",
          ScheduleExpression: "cron(0 9 * * ? *)",
          State: "ENABLED",
          Description: "daily",
        },
        { Name: "dagy-acme-corp-x-etl", ScheduleExpression: "rate(1 day)", State: "ENABLED" },
      ],
    });
    h.events.on(ListTargetsByRuleCommand, { Rule: "dagy-acme-corp-etl-daily" }).resolves({
      Targets: [{ Id: "1", Arn: LAUNCH_FUNCTION_ARN, Input: GUIDE_INPUT }],
    });
    h.events.on(ListTargetsByRuleCommand, { Rule: "dagy-acme-corp-x-etl" }).resolves({
      Targets: [
        {
          Id: "1",
          Arn: LAUNCH_FUNCTION_ARN,
          Input: GUIDE_INPUT.replace('"acme-corp"', '"acme-corp-x"'),
        },
      ],
    });
    h.scheduler.on(ListSchedulesCommand).resolves({
      Schedules: [{ Name: "dagy-acme-corp-berlin", GroupName: "default" }],
    });
    h.scheduler.on(GetScheduleCommand, { Name: "dagy-acme-corp-berlin" }).resolves({
      Name: "dagy-acme-corp-berlin",
      ScheduleExpression: "cron(0 9 * * ? *)",
      ScheduleExpressionTimezone: "Europe/Berlin",
      State: "DISABLED",
      Target: { Arn: LAUNCH_FUNCTION_ARN, RoleArn: SCHEDULER_ROLE_ARN, Input: GUIDE_INPUT },
    });

    const response = await h
      .api()
      .handle(httpEvent("GET", "/schedules", { query: { org_id: "acme-corp" } }));
    expect(response.statusCode).toBe(200);
    const schedules = bodyOf(response).schedules as Array<Record<string, unknown>>;
    expect(schedules.map((s) => [s.name, s.time_zone, s.enabled, s.kind])).toEqual([
      ["berlin", "Europe/Berlin", false, "eventbridge-scheduler"],
      ["etl-daily", "UTC", true, "eventbridge-rule"],
    ]);
    expect(h.events.commandCalls(ListRulesCommand)[0]!.args[0].input).toEqual({
      NamePrefix: "dagy-acme-corp-",
    });
  });

  it("shows each schedule's next fire time and its last firing's run", async () => {
    h.ecs.on(RunTaskCommand).callsFake((input: { clientToken?: string }) => ({
      tasks: [{ taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/${input.clientToken}` }],
    }));
    // A firing of etl-daily, as the launch function records it.
    const fired = await h.launcher.launch({
      flowName: "etl_pipeline",
      orgId: "acme-corp",
      triggerSource: "schedule",
      triggeredBy: "schedule:etl-daily",
    });
    h.events.on(ListRulesCommand).resolves({
      Rules: [
        { Name: "dagy-acme-corp-etl-daily", ScheduleExpression: "rate(1 hour)", State: "ENABLED" },
      ],
    });
    h.events.on(ListTargetsByRuleCommand, { Rule: "dagy-acme-corp-etl-daily" }).resolves({
      Targets: [{ Id: "1", Arn: LAUNCH_FUNCTION_ARN, Input: GUIDE_INPUT }],
    });
    h.scheduler.on(ListSchedulesCommand).resolves({ Schedules: [] });
    const response = await h
      .api()
      .handle(httpEvent("GET", "/schedules", { query: { org_id: "acme-corp" } }));
    const [schedule] = bodyOf(response).schedules as Array<Record<string, unknown>>;
    expect(schedule).toMatchObject({
      name: "etl-daily",
      next_fire_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      last_firing: { run_id: fired.runId, status: "QUEUED", error: null },
    });
  });
});

describe("DELETE /schedules/{name}", () => {
  it("removes the target, then the rule", async () => {
    h.events.on(ListTargetsByRuleCommand, { Rule: "dagy-acme-corp-etl-daily" }).resolves({
      Targets: [{ Id: "1", Arn: LAUNCH_FUNCTION_ARN, Input: GUIDE_INPUT }],
    });
    h.events.on(RemoveTargetsCommand).resolves({ FailedEntryCount: 0 });
    h.events.on(DeleteRuleCommand).resolves({});
    const response = await h
      .api()
      .handle(httpEvent("DELETE", "/schedules/etl-daily", { query: { org_id: "acme-corp" } }));
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({ name: "etl-daily", deleted: true });
    expect(h.events.commandCalls(RemoveTargetsCommand).map((c) => c.args[0].input)).toEqual([
      { Rule: "dagy-acme-corp-etl-daily", Ids: ["1"] },
    ]);
    expect(h.events.commandCalls(DeleteRuleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: "dagy-acme-corp-etl-daily" },
    ]);
  });

  it("answers 404 for a schedule that does not exist, deleting nothing", async () => {
    const response = await h
      .api()
      .handle(httpEvent("DELETE", "/schedules/nothing", { query: { org_id: "acme-corp" } }));
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response).error).toBe("Schedule not found: nothing");
    expect(h.events.commandCalls(DeleteRuleCommand)).toHaveLength(0);
  });
});

describe("without a schedule service", () => {
  it("answers 404 saying schedules are not enabled", async () => {
    const api = h.api({ services: { schedules: undefined } });
    const response = await api.handle(
      httpEvent("GET", "/schedules", { query: { org_id: "acme-corp" } }),
    );
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response).error).toBe("Schedules are not enabled in this deployment");
  });
});
