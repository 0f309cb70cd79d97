import { ECSClient, RunTaskCommand } from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { Persistence } from "../../lib/persistence/persistence";
import type { LaunchEventResult } from "../../lib/schedules/launch-event";
import { registerFlow } from "../api/harness";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { handlerEnv, setEnv } from "./env";

const ecs = mockClient(ECSClient);
let env: TestEnv;
let persistence: Persistence;
let restoreEnv: () => void;
let handler: (event: unknown) => Promise<LaunchEventResult>;

/** What the guide's `aws events put-targets --targets ... Input=...` delivers. */
const GUIDE_EVENT = {
  action: "launch",
  flow_name: "etl_pipeline",
  org_id: "acme-corp",
  environment: "production",
};

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  await registerFlow(persistence, "acme-corp", "etl_pipeline", "1.0.0", env.buckets.artifacts);
  restoreEnv = setEnv(handlerEnv(env));
  ({ handler } = await import("../../lambda/launch"));
});

afterAll(async () => {
  ecs.restore();
  restoreEnv();
  await env.close();
});

beforeEach(() => {
  ecs.reset();
  ecs.on(RunTaskCommand).callsFake((input: { clientToken?: string }) => ({
    tasks: [{ taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/${input.clientToken ?? ""}` }],
  }));
});

describe("launch handler", () => {
  it("launches one run for one firing delivered twice (EventBridge is at-least-once)", async () => {
    const firing = {
      ...GUIDE_EVENT,
      idempotency_key: "dagy-develop-etl-daily@2024-03-14T09:00:00Z",
    };
    const first = await handler(firing);
    const second = await handler(firing);
    expect(first.success).toBe(true);
    expect(second.run_id).toBe(first.run_id);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
    // The next firing (another scheduled time) is a new run.
    const next = await handler({
      ...firing,
      idempotency_key: "dagy-develop-etl-daily@2024-03-15T09:00:00Z",
    });
    expect(next.run_id).not.toBe(first.run_id);
  });

  it("launches the guide's scheduled event and returns the result in snake_case", async () => {
    const result = await handler(GUIDE_EVENT);
    expect(result).toEqual({
      success: true,
      run_id: expect.any(String) as string,
      flow_name: "etl_pipeline",
      task_arn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/${result.run_id ?? ""}`,
      correlation_id: result.run_id,
      error_message: null,
      error_code: null,
      metadata: {},
    });
    const calls = ecs.commandCalls(RunTaskCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toMatchObject({
      cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
      taskDefinition: "dagy-worker",
      clientToken: result.run_id,
    });
    expect(await persistence.runs.get(result.run_id as string)).toMatchObject({
      status: "QUEUED",
      environment: "production",
      trigger_source: "lambda",
    });
  });

  it("accepts any launch-request field in snake_case, e.g. a schedule's audit fields", async () => {
    const result = await handler({
      ...GUIDE_EVENT,
      parameters: { date: "2024-03-14" },
      workload_profile: "small",
      trigger_source: "schedule",
      triggered_by: "schedule:etl-daily",
    });
    expect(result.success).toBe(true);
    expect(await persistence.runs.get(result.run_id as string)).toMatchObject({
      parameters: { date: "2024-03-14" },
      cpu: "256",
      memory: "512",
      trigger_source: "schedule",
      triggered_by: "schedule:etl-daily",
    });
  });

  it.each([
    ["a wrong action", { ...GUIDE_EVENT, action: "run" }, /action: must be "launch" \(got "run"\)/],
    [
      "no action",
      { flow_name: "etl_pipeline", org_id: "acme-corp" },
      /action: must be "launch" \(got nothing\)/,
    ],
    ["an unknown field", { ...GUIDE_EVENT, flow_verison: "1.0.0" }, /unknown field flow_verison/],
    ["a missing org_id", { action: "launch", flow_name: "etl_pipeline" }, /org_id/],
    ["not an object", "launch etl_pipeline", /must be a JSON object/],
  ])(
    "answers success:false naming the problem for %s, without throwing or launching",
    async (_n, event, message) => {
      const result = await handler(event);
      expect(result).toMatchObject({
        success: false,
        run_id: null,
        task_arn: null,
        error_code: "invalid_request",
      });
      expect(result.error_message).toMatch(message);
      expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
    },
  );

  it("answers success:false, without throwing, for parameters the flow does not accept", async () => {
    await persistence.flows.put({
      org_id: "acme-corp",
      flow_name: "needs_date",
      flow_version: "1.0.0",
      spec: JSON.stringify({
        spec_version: 1,
        name: "needs_date",
        version: "1.0.0",
        parameters: { date: { type: "string", required: true } },
        tasks: [],
      }),
      artifact_s3_uri: `s3://${env.buckets.artifacts}/flows/needs_date/1.0.0/artifact.zip`,
      artifact_sha256: "b".repeat(64),
      is_semver: true,
      registered_at: "2024-03-01T00:00:00.000Z",
    });
    const result = await handler({ ...GUIDE_EVENT, flow_name: "needs_date" });
    expect(result).toMatchObject({ success: false, error_code: "invalid_request" });
    expect(result.error_message).toMatch(/date/);
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("reports an unregistered flow as success:false with its error type", async () => {
    const result = await handler({ ...GUIDE_EVENT, flow_name: "missing_flow" });
    expect(result).toMatchObject({ success: false, run_id: null, error_code: "flow_not_found" });
    expect(result.error_message).toMatch(/missing_flow/);
  });
});
