/**
 * The warm fallback: a run dispatched warm (real DagLauncher and EcsBackend, SQS and ECS
 * mocked, dynalite) that no worker claims is launched cold exactly once; a claimed one is left
 * alone. Driven by the AWS-documented SQS event shape, with the body the launcher really sent.
 */
import { ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import type { DagLauncher } from "../../lib/launcher";
import { EcsBackend } from "../../lib/launcher/ecs-backend";
import { WarmDispatcher } from "../../lib/launcher/warm-dispatch";
import { Persistence } from "../../lib/persistence/persistence";
import { WarmPoolRepository } from "../../lib/persistence/warm-pools";
import { reconcileEcsTaskEvent, sweepStaleRuns, type TaskInspector } from "../../lib/reconcile";
import { ecsTaskStateChange, taskArn } from "../lambda/fixtures/ecs-events";
import {
  handleWarmFallbackEvent,
  type WarmFallbackDependencies,
} from "../../lib/reconcile/warm-fallback";
import { sqsEvent } from "../lambda/fixtures/sqs-events";
import { GUIDE_CONFIG, makeLauncher, newOrg, registerFlow } from "../launcher/support";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { createPoolTable } from "../support/warm-pool-table";

const POOL_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-small";
const FALLBACK_QUEUE =
  "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-fallback";
const WARM_WORKER_ARN = "arn:aws:ecs:us-east-1:123456789012:task/dagy/warm-worker-1";

const ecsMock = mockClient(ECSClient);
const sqsMock = mockClient(SQSClient);
let env: TestEnv;
let pools: WarmPoolRepository;
let persistence: Persistence;
let launcher: DagLauncher;
let org: string;
let taskCounter = 0;

beforeAll(async () => {
  env = await startTestEnv();
  pools = new WarmPoolRepository(env.clients.doc, await createPoolTable(env));
  persistence = new Persistence(env.clients.doc, env.tables);
});
afterAll(() => env.close());

beforeEach(async () => {
  ecsMock.reset();
  sqsMock.reset();
  ecsMock.on(RunTaskCommand).callsFake(() => ({
    tasks: [{ taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/cold${++taskCounter}` }],
  }));
  ecsMock.on(StopTaskCommand).resolves({});
  sqsMock.on(SendMessageCommand).resolves({ MessageId: "m" });
  org = newOrg();
  await registerFlow(env, org, "hello", "1.0.0");
  const backend = new EcsBackend({
    ecs: new ECSClient({ region: "us-east-1" }),
    clusterArn: GUIDE_CONFIG.clusterArn,
    taskDefinition: "dagy-worker",
    subnets: [...GUIDE_CONFIG.subnets],
    securityGroups: [...GUIDE_CONFIG.securityGroups],
    sleep: async () => {},
    warm: new WarmDispatcher({
      pools: [{ pool: "small", queueUrl: POOL_QUEUE, cpu: "256", memory: "512" }],
      fallbackQueueUrl: FALLBACK_QUEUE,
      sqs: new SQSClient({ region: "us-east-1" }),
      poolStore: pools,
    }),
  });
  launcher = makeLauncher(env, {}, { backend });
});

/** Launches warm; returns the run id and the fallback message body the launcher sent. */
async function launchWarm(): Promise<{ runId: string; fallbackBody: string }> {
  await pools.addIdle("small");
  const result = await launcher.launch({ flowName: "hello", orgId: org, workloadProfile: "small" });
  expect(result.taskArn).toBe(`warm:small:${result.runId}`);
  const fallback = sqsMock
    .commandCalls(SendMessageCommand)
    .map((c) => c.args[0].input)
    .find((i) => i.QueueUrl === FALLBACK_QUEUE);
  return { runId: result.runId, fallbackBody: fallback!.MessageBody! };
}

function deps(): WarmFallbackDependencies {
  return { runs: persistence.runs, relaunch: (run, next) => launcher.relaunch(run, next) };
}

function runTasks(): number {
  return ecsMock.commandCalls(RunTaskCommand).length;
}

describe("warm fallback", () => {
  test("unclaimed: launched cold once, even when the fallback message arrives twice", async () => {
    const { runId, fallbackBody } = await launchWarm();
    const event = sqsEvent([fallbackBody]);
    await expect(handleWarmFallbackEvent(event, deps())).resolves.toEqual({
      batchItemFailures: [],
    });
    await expect(
      handleWarmFallbackEvent(sqsEvent([fallbackBody], { receiveCount: 2 }), deps()),
    ).resolves.toEqual({ batchItemFailures: [] });
    expect(runTasks()).toBe(1);
    const input = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    // The cold task is the same run at the same size.
    expect(input.overrides?.cpu).toBe("256");
    expect(input.overrides?.containerOverrides?.[0]?.environment).toContainEqual({
      name: "DAGY_RUN_ID",
      value: runId,
    });
    const run = await persistence.runs.get(runId);
    expect(run?.status).toBe("QUEUED");
    expect(run?.task_arn).toBe(`arn:aws:ecs:us-east-1:123456789012:task/dagy/cold${taskCounter}`);
    expect(run?.relaunches ?? 0).toBe(0);
    expect(run?.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        task_arn: `warm:small:${runId}`,
        start_mode: "warm",
        outcome: "unclaimed",
      }),
      expect.objectContaining({ attempt: 2, task_arn: run?.task_arn, start_mode: "cold" }),
    ]);
  });

  test("claimed by a warm worker: nothing happens", async () => {
    const { runId, fallbackBody } = await launchWarm();
    // The warm worker's claim: QUEUED -> RUNNING on its own task.
    await persistence.runs.transition(runId, "QUEUED", "RUNNING", { task_arn: WARM_WORKER_ARN });
    await handleWarmFallbackEvent(sqsEvent([fallbackBody]), deps());
    expect(runTasks()).toBe(0);
    const run = await persistence.runs.get(runId);
    expect(run).toMatchObject({ status: "RUNNING", task_arn: WARM_WORKER_ARN });
  });

  test("a worker that claims while the fallback is starting the cold task wins; the cold task is stopped", async () => {
    const { runId, fallbackBody } = await launchWarm();
    const racing: WarmFallbackDependencies = {
      runs: persistence.runs,
      relaunch: async (run, next) => {
        // Between the take-over and the cold attempt's record, the warm worker claims.
        await persistence.runs.transition(runId, "QUEUED", "RUNNING", {
          task_arn: WARM_WORKER_ARN,
        });
        return launcher.relaunch(run, next);
      },
    };
    await handleWarmFallbackEvent(sqsEvent([fallbackBody]), racing);
    expect(runTasks()).toBe(1);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1);
    const run = await persistence.runs.get(runId);
    expect(run).toMatchObject({ status: "RUNNING", task_arn: WARM_WORKER_ARN });
  });

  test("cancelled before the fallback: nothing launched", async () => {
    const { runId, fallbackBody } = await launchWarm();
    await launcher.cancelRun(runId, { orgId: org });
    await handleWarmFallbackEvent(sqsEvent([fallbackBody]), deps());
    expect(runTasks()).toBe(0);
    expect((await persistence.runs.get(runId))?.status).toBe("CANCELLED");
  });

  test("a garbled or hostile body is dropped (not retried); an I/O error is retried alone", async () => {
    const { fallbackBody } = await launchWarm();
    const failing: WarmFallbackDependencies = {
      ...deps(),
      runs: {
        ...persistence.runs,
        get: () => Promise.reject(new Error("ProvisionedThroughputExceededException")),
        beginRelaunch: persistence.runs.beginRelaunch.bind(persistence.runs),
        transition: persistence.runs.transition.bind(persistence.runs),
      },
    };
    const event = sqsEvent(
      ["{nope", JSON.stringify({ v: 2, run_id: "x", org_id: "o", pool: "small" }), fallbackBody],
      { messageIds: ["garbled", "future", "good"] },
    );
    await expect(handleWarmFallbackEvent(event, failing)).resolves.toEqual({
      batchItemFailures: [{ itemIdentifier: "good" }],
    });
    expect(runTasks()).toBe(0);
  });

  test("a message naming another org's run changes nothing", async () => {
    const { runId } = await launchWarm();
    const forged = JSON.stringify({ v: 1, run_id: runId, org_id: "someone-else", pool: "small" });
    await handleWarmFallbackEvent(sqsEvent([forged]), deps());
    expect(runTasks()).toBe(0);
    expect((await persistence.runs.get(runId))?.task_arn).toBe(`warm:small:${runId}`);
  });
});

describe("reconciliation sweep and warm placeholders", () => {
  const inspector: TaskInspector & { described: string[][] } = {
    described: [],
    owns: (arn) => arn.startsWith("arn:"),
    describe(arns) {
      this.described.push([...arns]);
      return Promise.resolve(new Map());
    },
  };

  test("a fresh warm dispatch is left to its fallback: no DescribeTasks, not failed", async () => {
    const { runId } = await launchWarm();
    const report = await sweepStaleRuns({
      runs: persistence.runs,
      inspector,
      relaunch: (run, next) => launcher.relaunch(run, next),
      queuedAfterMs: 15 * 60_000,
      startTimeoutMs: 0,
      now: () => new Date(Date.now() + 60_000),
    });
    expect(report.outcomes.filter((o) => o.runId === runId)).toEqual([]);
    expect(inspector.described.flat()).not.toContain(`warm:small:${runId}`);
    expect((await persistence.runs.get(runId))?.status).toBe("QUEUED");
  });

  test("a warm dispatch still unclaimed past the sweep's QUEUED limit (fallback lost) is launched cold", async () => {
    const { runId } = await launchWarm();
    const report = await sweepStaleRuns({
      runs: persistence.runs,
      inspector,
      relaunch: (run, next) => launcher.relaunch(run, next),
      now: () => new Date(Date.now() + 16 * 60_000),
    });
    expect(report.outcomes.filter((o) => o.runId === runId)).toEqual([
      expect.objectContaining({ action: "relaunched", cause: "warm_unclaimed" }),
    ]);
    // (Other tests' runs share the table: count this run's tasks.)
    const forThisRun = ecsMock
      .commandCalls(RunTaskCommand)
      .filter((c) =>
        c.args[0].input.overrides?.containerOverrides?.[0]?.environment?.some(
          (e) => e.name === "DAGY_RUN_ID" && e.value === runId,
        ),
      );
    expect(forThisRun).toHaveLength(1);
  });

  test("without a relauncher the sweep fails it with the reason, never leaves it QUEUED", async () => {
    const { runId } = await launchWarm();
    await sweepStaleRuns({
      runs: persistence.runs,
      inspector,
      now: () => new Date(Date.now() + 16 * 60_000),
    });
    const run = await persistence.runs.get(runId);
    expect(run).toMatchObject({ status: "FAILED", stop_reason: "WARM_UNCLAIMED" });
    expect(run?.error_message).toMatch(/no warm worker of pool small claimed the run/);
  });
});

describe("a warm worker that dies during its run", () => {
  test("its task's STOPPED event (no run id in a service task's overrides) closes the run with the reason", async () => {
    const { runId } = await launchWarm();
    // The warm worker's claim: RUNNING on its own ECS task.
    const workerArn = taskArn("warm-dies");
    await persistence.runs.transition(runId, "QUEUED", "RUNNING", { task_arn: workerArn });
    const outcome = await reconcileEcsTaskEvent(
      ecsTaskStateChange({
        runId,
        taskId: "warm-dies",
        withRunId: false,
        stopCode: "EssentialContainerExited",
        stoppedReason: "Essential container in task exited",
        container: { exitCode: 1 },
      }),
      { runs: persistence.runs, relaunch: (run, next) => launcher.relaunch(run, next) },
    );
    expect(outcome).toMatchObject({ runId, action: "failed", status: "FAILED" });
    const run = await persistence.runs.get(runId);
    expect(run?.status).toBe("FAILED");
    expect(run?.error_message).toMatch(/exit/i);
  });
});
