import { ECSClient, RunTaskCommand } from "@aws-sdk/client-ecs";
import {
  EventBridgeClient,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  ResourceNotFoundException,
} from "@aws-sdk/client-eventbridge";
import { mockClient } from "aws-sdk-client-mock";
import type { HttpApiEvent, HttpResponse } from "../../lib/api/http";
import { Persistence } from "../../lib/persistence/persistence";
import { HTTP_API_V2_EVENT, httpEvent } from "../api/fixtures";
import { registerFlow } from "../api/harness";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { handlerEnv, setEnv } from "./env";

const ecs = mockClient(ECSClient);
const events = mockClient(EventBridgeClient);
const LAUNCH_ARN = "arn:aws:lambda:us-east-1:123456789012:function:dagy-production-launch";
let env: TestEnv;
let restoreEnv: () => void;
let handler: (event: HttpApiEvent) => Promise<HttpResponse>;

beforeAll(async () => {
  env = await startTestEnv();
  const persistence = new Persistence(env.clients.doc, env.tables);
  await registerFlow(persistence, "acme-corp", "etl_pipeline", "1.0.0", env.buckets.artifacts);
  restoreEnv = setEnv(
    handlerEnv(env, {
      DAGY_ENVIRONMENT: "production",
      DAGY_API_AUTH_MODE: "iam",
      DAGY_LAUNCH_FUNCTION_ARN: LAUNCH_ARN,
      DAGY_SCHEDULE_RULE_PREFIX: "dagy-production-",
    }),
  );
  ({ handler } = await import("../../lambda/api"));
});

afterAll(async () => {
  ecs.restore();
  events.restore();
  restoreEnv();
  await env.close();
});

describe("api handler (configured from the environment at cold start)", () => {
  it("launches the guide's request and reports its status", async () => {
    ecs.on(RunTaskCommand).callsFake((input: { clientToken?: string }) => ({
      tasks: [
        { taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/${input.clientToken ?? ""}` },
      ],
    }));
    const launched = await handler(HTTP_API_V2_EVENT);
    expect(launched.statusCode).toBe(200);
    const { run_id: runId } = JSON.parse(launched.body) as { run_id: string };

    const status = await handler(httpEvent("GET", `/runs/${runId}`));
    expect(status.statusCode).toBe(200);
    expect(JSON.parse(status.body)).toMatchObject({
      run_id: runId,
      flow_name: "etl_pipeline",
      status: "QUEUED",
      environment: "production",
      logs: { log_group: "/ecs/dagy-worker", log_stream: runId },
    });
  });

  it("creates schedule rules under the stack's prefix, targeting the launch function", async () => {
    events
      .on(ListTargetsByRuleCommand)
      .rejects(new ResourceNotFoundException({ message: "Rule does not exist", $metadata: {} }));
    events.on(PutRuleCommand).resolves({});
    events.on(PutTargetsCommand).resolves({ FailedEntryCount: 0 });
    const response = await handler(
      httpEvent("POST", "/schedules", {
        body: {
          name: "etl-daily",
          org_id: "acme-corp",
          flow_name: "etl_pipeline",
          expression: "cron(0 9 * * ? *)",
        },
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(events.commandCalls(PutRuleCommand)[0]?.args[0].input.Name).toBe(
      "dagy-production-acme-corp-etl-daily",
    );
    expect(events.commandCalls(PutTargetsCommand)[0]?.args[0].input.Targets?.[0]?.Arn).toBe(
      LAUNCH_ARN,
    );
  });
});
