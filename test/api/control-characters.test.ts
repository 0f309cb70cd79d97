/**
 * Control characters at the edge: every body field, query parameter and path parameter of
 * every route is checked before a service runs. A 400 names the field; nothing is written.
 */
import {
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-eventbridge";
import { RunTaskCommand } from "@aws-sdk/client-ecs";
import {
  GetScheduleCommand,
  ResourceNotFoundException as SchedulerNotFound,
} from "@aws-sdk/client-scheduler";
import { httpEvent } from "./fixtures";
import { acceptRunTask, bodyOf, registerFlow, startHarness, type Harness } from "./harness";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await registerFlow(h.persistence, "acme-corp", "etl_pipeline", "1.0.0", h.env.buckets.artifacts);
});
afterAll(() => h.close());
beforeEach(() => {
  h.ecs.reset();
  h.events.reset();
  acceptRunTask(h.ecs);
  h.events
    .on(ListTargetsByRuleCommand)
    .rejects(new ResourceNotFoundException({ message: "Rule does not exist", $metadata: {} }));
  h.events.on(PutRuleCommand).resolves({ RuleArn: "arn:aws:events:us-east-1:123456789012:rule/x" });
  h.events.on(PutTargetsCommand).resolves({ FailedEntryCount: 0, FailedEntries: [] });
  h.scheduler.reset();
  h.scheduler
    .on(GetScheduleCommand)
    .rejects(
      new SchedulerNotFound({ message: "Schedule does not exist", Message: "", $metadata: {} }),
    );
});

const ORG = { org_id: "acme-corp" };

describe("control characters in requests", () => {
  it.each([
    [
      "a NUL in correlation_id",
      "/flows/etl_pipeline/runs",
      { ...ORG, correlation_id: "a\u0000b" },
      /^correlation_id: /,
    ],
    [
      "a NUL in a parameter value",
      "/flows/etl_pipeline/runs",
      { ...ORG, parameters: { source: "x\u0000" } },
      /^parameters\.source: /,
    ],
    [
      "an ESC in a parameter name",
      "/flows/etl_pipeline/runs",
      { ...ORG, parameters: { "a\u001b": 1 } },
      /^parameters: keys must not contain control characters \(found U\+001B/,
    ],
    [
      "a C1 control in an extra env value",
      "/flows/etl_pipeline/runs",
      { ...ORG, extra_env_vars: { MODE: "\u0085" } },
      /^extra_env_vars\.MODE: /,
    ],
    [
      "a NUL in a batch entry",
      "/runs/batch",
      { ...ORG, requests: [{ flow_name: "etl\u0000" }] },
      /^requests\.0\.flow_name: /,
    ],
  ])(
    "refuses %s with 400 naming the field, launching nothing",
    async (_name, path, body, message) => {
      const response = await h.api().handle(httpEvent("POST", path, { body }));
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)).toMatchObject({ code: "invalid_request" });
      expect(bodyOf(response).error).toMatch(message);
      expect(h.ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
      const runs = await h.persistence.runs.list({ orgId: "acme-corp", limit: 10 });
      expect(runs.items).toHaveLength(0);
    },
  );

  it.each([
    ["a NUL in a schedule's name", { name: "daily\u0000" }, /^name: /],
    ["a BEL in a schedule's description", { description: "ring\u0007" }, /^description: /],
  ])("refuses %s, creating no rule", async (_name, change, message) => {
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "daily",
          ...ORG,
          flow_name: "etl_pipeline",
          expression: "cron(0 9 * * ? *)",
          ...change,
        },
      }),
    );
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(message);
    expect(h.events.commandCalls(PutRuleCommand)).toHaveLength(0);
  });

  it("refuses a control character in a query parameter, naming it", async () => {
    const response = await h
      .api()
      .handle(httpEvent("GET", "/runs", { query: { org_id: "acme\u0000corp" } }));
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(
      /^org_id: must not contain control characters .*\(query\)/,
    );
  });

  it("refuses a control character in a path parameter, naming it", async () => {
    const response = await h.api().handle(httpEvent("GET", "/runs/abc%00def"));
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(
      /^runId: must not contain control characters .*\(path\)/,
    );
  });

  it("refuses a control character in a deployment's package list, writing nothing", async () => {
    const response = await h
      .api()
      .handle(httpEvent("PUT", "/deployments/prod", { body: { ...ORG, packages: ["pkg\u0000"] } }));
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toMatch(/^packages\.0: /);
    expect(await h.persistence.deployments.list("acme-corp")).toEqual([]);
  });

  it("still accepts tabs and line breaks in text a user writes (a description)", async () => {
    const response = await h.api().handle(
      httpEvent("POST", "/schedules", {
        body: {
          name: "daily-text",
          ...ORG,
          flow_name: "etl_pipeline",
          expression: "cron(0 9 * * ? *)",
          description: "line one\n\tline two",
        },
      }),
    );
    expect(response.statusCode).toBe(200);
  });
});
