/**
 * The source handlers of a warm dispatch end to end: the launch handler with DAGY_WARM_POOLS
 * hands a run to an idle pool worker; nobody claims it; the warm-fallback handler, given the
 * AWS-documented SQS event carrying the body the launcher sent, launches it cold — once.
 */
import { ECSClient, RunTaskCommand } from "@aws-sdk/client-ecs";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { Persistence } from "../../lib/persistence/persistence";
import { WarmPoolRepository } from "../../lib/persistence/warm-pools";
import type { SqsBatchResponse } from "../../lib/reconcile/warm-fallback";
import type { LaunchEventResult } from "../../lib/schedules/launch-event";
import { registerFlow } from "../api/harness";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { createPoolTable } from "../support/warm-pool-table";
import { handlerEnv, setEnv } from "./env";
import { sqsEvent } from "./fixtures/sqs-events";

const POOL_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-production-warm-small";
const FALLBACK_QUEUE =
  "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-production-warm-fallback";

const ecs = mockClient(ECSClient);
const sqs = mockClient(SQSClient);
let env: TestEnv;
let persistence: Persistence;
let pools: WarmPoolRepository;
let restoreEnv: () => void;
let launch: (event: unknown) => Promise<LaunchEventResult>;
let fallback: (event: unknown) => Promise<SqsBatchResponse>;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  const poolTable = await createPoolTable(env);
  pools = new WarmPoolRepository(env.clients.doc, poolTable);
  await registerFlow(persistence, "acme-corp", "etl_pipeline", "1.0.0", env.buckets.artifacts);
  restoreEnv = setEnv(
    handlerEnv(env, {
      DAGY_WARM_POOLS: JSON.stringify([
        { pool: "small", queue_url: POOL_QUEUE, cpu: "256", memory: "512" },
      ]),
      DAGY_WARM_POOL_TABLE: poolTable,
      DAGY_WARM_FALLBACK_QUEUE_URL: FALLBACK_QUEUE,
    }),
  );
  ({ handler: launch } = await import("../../lambda/launch"));
  ({ handler: fallback } = await import("../../lambda/warm-fallback"));
});

afterAll(async () => {
  ecs.restore();
  sqs.restore();
  restoreEnv();
  await env.close();
});

beforeEach(() => {
  ecs.reset();
  sqs.reset();
  ecs.on(RunTaskCommand).resolves({
    tasks: [{ taskArn: "arn:aws:ecs:us-east-1:123456789012:task/dagy/cold-1" }],
  });
  sqs.on(SendMessageCommand).resolves({ MessageId: "m-1" });
});

describe("warm dispatch through the Lambda handlers", () => {
  it("launch hands the run to the pool; the fallback launches it cold once when nobody claimed it", async () => {
    await pools.addIdle("small");
    const result = await launch({
      action: "launch",
      flow_name: "etl_pipeline",
      org_id: "acme-corp",
      workload_profile: "small",
    });
    expect(result).toMatchObject({ success: true, task_arn: `warm:small:${result.run_id}` });
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
    const messages = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(messages.map((m) => m.QueueUrl)).toEqual([FALLBACK_QUEUE, POOL_QUEUE]);

    const event = sqsEvent([messages[0]!.MessageBody!]);
    await expect(fallback(event)).resolves.toEqual({ batchItemFailures: [] });
    await expect(fallback(event)).resolves.toEqual({ batchItemFailures: [] });
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(1);
    const run = await persistence.runs.get(result.run_id!);
    expect(run?.task_arn).toBe("arn:aws:ecs:us-east-1:123456789012:task/dagy/cold-1");
    expect(run?.attempts?.map((a) => [a.start_mode, a.outcome])).toEqual([
      ["warm", "unclaimed"],
      ["cold", undefined],
    ]);
  });

  it("with the pool empty, launch starts a task at once", async () => {
    const result = await launch({
      action: "launch",
      flow_name: "etl_pipeline",
      org_id: "acme-corp",
      workload_profile: "small",
    });
    expect(result).toMatchObject({
      success: true,
      task_arn: "arn:aws:ecs:us-east-1:123456789012:task/dagy/cold-1",
    });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it("the fallback drops a garbled message instead of failing the batch", async () => {
    await expect(fallback(sqsEvent(["not json"]))).resolves.toEqual({ batchItemFailures: [] });
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });
});
