/**
 * Warm dispatch on Fargate through the real DagLauncher and EcsBackend: the pool table and the
 * runs table in dynalite, SQS and ECS mocked (asserting the exact requests).
 */
import { ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { SendMessageCommand, SQSClient, type SendMessageCommandInput } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { DagLauncher } from "../../lib/launcher";
import { EcsBackend } from "../../lib/launcher/ecs-backend";
import { WarmDispatcher, warmDispatcherFromConfig } from "../../lib/launcher/warm-dispatch";
import { Persistence } from "../../lib/persistence/persistence";
import { WarmPoolRepository } from "../../lib/persistence/warm-pools";
import type { WorkerLaunchSpec } from "../../lib/launcher/types";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { createPoolTable } from "../support/warm-pool-table";
import { GUIDE_CONFIG, makeLauncher, newOrg, registerFlow } from "./support";

const POOL_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-small";
const FALLBACK_QUEUE =
  "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-fallback";
const TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/dagy/cold1";

const ecsMock = mockClient(ECSClient);
const sqsMock = mockClient(SQSClient);
let env: TestEnv;
let pools: WarmPoolRepository;
let persistence: Persistence;
let launcher: DagLauncher;
let org: string;
let pool: string;

beforeAll(async () => {
  env = await startTestEnv();
  pools = new WarmPoolRepository(env.clients.doc, await createPoolTable(env));
  persistence = new Persistence(env.clients.doc, env.tables);
});
afterAll(() => env.close());

beforeEach(async () => {
  ecsMock.reset();
  sqsMock.reset();
  ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
  ecsMock.on(StopTaskCommand).resolves({});
  sqsMock.on(SendMessageCommand).resolves({ MessageId: "m-1" });
  org = newOrg();
  // A fresh pool per test: counts do not leak between tests.
  pool = `small-${org.slice(-8)}`;
  await registerFlow(env, org, "hello", "1.0.0");
  launcher = makeLauncher(env, {}, { backend: backend() });
});

function dispatcher(): WarmDispatcher {
  return new WarmDispatcher({
    pools: [{ pool, queueUrl: POOL_QUEUE, cpu: "256", memory: "512" }],
    fallbackQueueUrl: FALLBACK_QUEUE,
    sqs: new SQSClient({ region: "us-east-1" }),
    poolStore: pools,
  });
}

function backend(): EcsBackend {
  return new EcsBackend({
    ecs: new ECSClient({ region: "us-east-1" }),
    clusterArn: GUIDE_CONFIG.clusterArn,
    taskDefinition: "dagy-worker",
    subnets: [...GUIDE_CONFIG.subnets],
    securityGroups: [...GUIDE_CONFIG.securityGroups],
    sleep: async () => {},
    warm: dispatcher(),
  });
}

function sent(): SendMessageCommandInput[] {
  return sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
}

describe("warm dispatch", () => {
  test("a run a pool fits goes to an idle worker: fallback then assignment sent, one worker reserved, no task started", async () => {
    await pools.addIdle(pool);
    await pools.addIdle(pool);
    const result = await launcher.launch({
      flowName: "hello",
      orgId: org,
      workloadProfile: "small",
    });
    expect(result.success).toBe(true);
    expect(result.taskArn).toBe(`warm:${pool}:${result.runId}`);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    expect(await pools.idle(pool)).toBe(1);

    const [fallback, assignment] = sent();
    expect(sent()).toHaveLength(2);
    expect(fallback).toEqual({
      QueueUrl: FALLBACK_QUEUE,
      MessageBody: JSON.stringify({ v: 1, run_id: result.runId, org_id: org, pool }),
      DelaySeconds: 30,
    });
    expect(assignment!.QueueUrl).toBe(POOL_QUEUE);
    const flow = await persistence.flows.resolve(org, "hello", "1.0.0");
    expect(JSON.parse(assignment!.MessageBody!)).toEqual({
      v: 1,
      run_id: result.runId,
      org_id: org,
      // Exactly the container environment a cold RunTask sends.
      env: {
        DAGY_RUN_ID: result.runId,
        DAGY_ORG_ID: org,
        DAGY_FLOW_NAME: "hello",
        DAGY_FLOW_VERSION: "1.0.0",
        DAGY_ARTIFACT_URI: flow.artifact_s3_uri,
        DAGY_ARTIFACT_SHA256: flow.artifact_sha256,
        DAGY_ENVIRONMENT: "",
        DAGY_CORRELATION_ID: result.runId,
        DAGY_PARAMETERS: "{}",
        DAGY_RUNS_TABLE: env.tables.runs,
        DAGY_TRACES_BUCKET: env.buckets.traces,
        DAGY_ECS_LOG_GROUP: GUIDE_CONFIG.logGroup,
        AWS_REGION: GUIDE_CONFIG.region,
      },
    });

    const run = await persistence.runs.get(result.runId);
    expect(run?.status).toBe("QUEUED");
    expect(run?.task_arn).toBe(`warm:${pool}:${result.runId}`);
    expect(run?.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        task_arn: `warm:${pool}:${result.runId}`,
        start_mode: "warm",
        cpu: "256",
        memory: "512",
      }),
    ]);
  });

  test("a warm worker that claims before the launcher records: the attempt is recorded under the worker's task ARN, not the placeholder", async () => {
    await pools.addIdle(pool);
    const workerArn = "arn:aws:ecs:us-east-1:123456789012:task/dagy/warm1";
    // The worker receives the assignment and claims at once, as the launcher is still sending.
    sqsMock.on(SendMessageCommand, { QueueUrl: POOL_QUEUE }).callsFake(async (input) => {
      const { run_id: runId } = JSON.parse(input.MessageBody) as { run_id: string };
      await persistence.runs.transition(
        runId,
        "QUEUED",
        "RUNNING",
        { task_arn: workerArn },
        {
          taskArn: { absentOr: workerArn },
        },
      );
      return { MessageId: "m-2" };
    });
    const result = await launcher.launch({
      flowName: "hello",
      orgId: org,
      workloadProfile: "small",
    });
    expect(result.success).toBe(true);
    const run = await persistence.runs.get(result.runId);
    expect(run?.status).toBe("RUNNING");
    expect(run?.task_arn).toBe(workerArn);
    expect(run?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, task_arn: workerArn, start_mode: "warm" }),
    ]);
    expect((await persistence.runs.findByTaskArn(workerArn))?.run_id).toBe(result.runId);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  test("the same assignment body as the cold RunTask's environment, variable for variable", async () => {
    // Cold first (pool empty), then warm: the two runs' environments differ only in their ids.
    const cold = await launcher.launch({ flowName: "hello", orgId: org, workloadProfile: "small" });
    await pools.addIdle(pool);
    const warm = await launcher.launch({ flowName: "hello", orgId: org, workloadProfile: "small" });
    const overrides = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input.overrides!;
    const coldEnv: Record<string, string | undefined> = Object.fromEntries(
      overrides.containerOverrides![0]!.environment!.map((e) => [e.name ?? "", e.value]),
    );
    const warmEnv = (JSON.parse(sent()[1]!.MessageBody!) as { env: Record<string, string> }).env;
    const swap = (v: string | undefined): string | undefined => (v === cold.runId ? warm.runId : v);
    expect(warmEnv).toEqual(
      Object.fromEntries(Object.entries(coldEnv).map(([k, v]) => [k, swap(v)])),
    );
  });

  test("pool exhausted: the run starts cold with RunTask and its attempt says cold", async () => {
    const result = await launcher.launch({
      flowName: "hello",
      orgId: org,
      workloadProfile: "small",
    });
    expect(result).toMatchObject({ success: true, taskArn: TASK_ARN });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
    expect(sent()).toEqual([]);
    expect(await pools.idle(pool)).toBe(0);
    const run = await persistence.runs.get(result.runId);
    expect(run?.attempts?.[0]).toMatchObject({ task_arn: TASK_ARN, start_mode: "cold" });
  });

  test("SendMessage to the pool queue fails: the reservation is given back and the run starts cold", async () => {
    await pools.addIdle(pool);
    sqsMock
      .on(SendMessageCommand, { QueueUrl: POOL_QUEUE })
      .rejects(new Error("AWS.SimpleQueueService.NonExistentQueue"));
    const result = await launcher.launch({
      flowName: "hello",
      orgId: org,
      workloadProfile: "small",
    });
    expect(result).toMatchObject({ success: true, taskArn: TASK_ARN });
    expect(await pools.idle(pool)).toBe(1);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
    const run = await persistence.runs.get(result.runId);
    expect(run?.attempts?.[0]).toMatchObject({ start_mode: "cold" });
  });

  test("SendMessage to the fallback queue fails: nothing is handed out, the reservation is given back, cold", async () => {
    await pools.addIdle(pool);
    sqsMock.on(SendMessageCommand, { QueueUrl: FALLBACK_QUEUE }).rejects(new Error("throttled"));
    const result = await launcher.launch({
      flowName: "hello",
      orgId: org,
      workloadProfile: "small",
    });
    expect(result).toMatchObject({ success: true, taskArn: TASK_ARN });
    expect(sent().map((s) => s.QueueUrl)).toEqual([FALLBACK_QUEUE]);
    expect(await pools.idle(pool)).toBe(1);
  });

  test("cancelling a warm dispatch before any worker claims it: CANCELLED, and no ECS call for the placeholder", async () => {
    await pools.addIdle(pool);
    const result = await launcher.launch({
      flowName: "hello",
      orgId: org,
      workloadProfile: "small",
    });
    const cancelled = await launcher.cancelRun(result.runId, { orgId: org });
    expect(cancelled.status).toBe("CANCELLED");
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
    expect(ecsMock.calls()).toHaveLength(0);
  });
});

describe("runs that always start cold", () => {
  const base: WorkerLaunchSpec = {
    runId: "r-1",
    orgId: "o-1",
    flowName: "hello",
    environment: { DAGY_RUN_ID: "r-1", DAGY_ORG_ID: "o-1" },
    cpu: "256",
    memory: "512",
    ephemeralStorageGib: 21,
    capacityProvider: "FARGATE",
    secretsEnv: {},
  };
  test.each([
    [
      "a run with secrets (ECS injects them only at task start)",
      { secretsEnv: { TOKEN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:t" } },
    ],
    ["a relaunch (attempt 2)", { attempt: 2 }],
    ["a size no pool has", { cpu: "1024", memory: "2048" }],
    ["the same cpu with other memory", { memory: "1024" }],
    ["FARGATE_SPOT", { capacityProvider: "FARGATE_SPOT" as const }],
    ["more ephemeral storage", { ephemeralStorageGib: 50 }],
  ])("%s: no reservation, no message", async (_name, change) => {
    await pools.addIdle(pool);
    const d = dispatcher();
    await expect(d.dispatch({ ...base, ...change })).resolves.toBeUndefined();
    expect(await pools.idle(pool)).toBe(1);
    expect(sent()).toEqual([]);
  });

  test("a fitting first attempt does go warm (the control for the cases above)", async () => {
    await pools.addIdle(pool);
    await expect(dispatcher().dispatch(base)).resolves.toEqual({
      taskArn: `warm:${pool}:r-1`,
      startMode: "warm",
    });
  });

  test("a fallback delay outside SQS's 0-900 s is refused, naming the field", () => {
    expect(
      () =>
        new WarmDispatcher({
          pools: [],
          fallbackQueueUrl: FALLBACK_QUEUE,
          fallbackDelaySeconds: 901,
          sqs: new SQSClient({ region: "us-east-1" }),
          poolStore: pools,
        }),
    ).toThrow(/fallbackDelaySeconds must be whole seconds from 0 to 900/);
  });
});

describe("warm dispatcher from the runtime configuration", () => {
  test("no pools: none (every launch cold)", () => {
    expect(warmDispatcherFromConfig({ pools: [] }, { doc: env.clients.doc })).toBeUndefined();
  });

  test("pools without an SQS client are refused, naming the variables", () => {
    expect(() =>
      warmDispatcherFromConfig(
        {
          pools: [{ pool: "small", queueUrl: POOL_QUEUE, cpu: "256", memory: "512" }],
          poolTable: "t",
          fallbackQueueUrl: FALLBACK_QUEUE,
        },
        { doc: env.clients.doc },
      ),
    ).toThrow(
      /DAGY_WARM_POOLS names warm pools: DAGY_WARM_POOL_TABLE, DAGY_WARM_FALLBACK_QUEUE_URL and an SQS client are needed/,
    );
  });
});
