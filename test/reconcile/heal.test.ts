/**
 * Runs that heal themselves: a launch through the real DagLauncher (ECS mocked, asserting the
 * RunTask requests), the run's task stopped by the infrastructure, reconciled from ECS events
 * and the sweep against real DynamoDB (dynalite).
 */
import {
  DescribeTasksCommand,
  ECSClient,
  RunTaskCommand,
  StopTaskCommand,
  type RunTaskCommandInput,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import type { DagLauncher } from "../../lib/launcher";
import { Persistence } from "../../lib/persistence/persistence";
import {
  reconcileEcsTaskEvent,
  sweepStaleRuns,
  EcsTaskInspector,
  type ReconcileDependencies,
  type ReconcileOutcome,
} from "../../lib/reconcile";
import { ecsTaskStateChange } from "../lambda/fixtures/ecs-events";
import { GUIDE_CONFIG, makeLauncher, newOrg, registerFlow } from "../launcher/support";
import { startTestEnv, type TestEnv } from "../support/local-servers";

const ecsMock = mockClient(ECSClient);
let env: TestEnv;
let persistence: Persistence;
let launcher: DagLauncher;
let taskCounter = 0;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
});
afterAll(async () => {
  await launcher?.close();
  await env.close();
});
beforeEach(() => {
  ecsMock.reset();
  ecsMock.on(RunTaskCommand).callsFake(() => ({
    tasks: [{ taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/t${++taskCounter}` }],
  }));
  ecsMock.on(StopTaskCommand).resolves({});
  launcher = makeLauncher(env);
});

function runTasks(): RunTaskCommandInput[] {
  return ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
}

/** The task id part of an ARN, as the event fixtures want it. */
function idOf(arn: string): string {
  return arn.slice(arn.lastIndexOf("/") + 1);
}

function deps(): ReconcileDependencies {
  return {
    runs: persistence.runs,
    relaunch: (run, next) => launcher.relaunch(run, next),
  };
}

async function launch(fields: Record<string, unknown> = {}) {
  const orgId = newOrg();
  await registerFlow(env, orgId, "heal_flow", "1.0.0");
  const result = await launcher.launch({ flowName: "heal_flow", orgId, ...fields });
  expect(result.success).toBe(true);
  return { runId: result.runId, taskArn: result.taskArn! };
}

async function stop(
  runId: string,
  taskArn: string,
  change: Record<string, unknown>,
): Promise<ReconcileOutcome> {
  const outcome = await reconcileEcsTaskEvent(
    ecsTaskStateChange({ runId, taskId: idOf(taskArn), ...change }),
    deps(),
  );
  if (outcome.action === "ignored") throw new Error(`event ignored: ${outcome.reason}`);
  return outcome;
}

const noCapacity = {
  stopCode: "TaskFailedToStart",
  stoppedReason:
    "Capacity is unavailable at this time. Please try again later or in a different availability zone",
  container: null,
};
const spot = {
  stopCode: "SpotInterruption",
  stoppedReason: "Your Spot Task was interrupted.",
  container: { exitCode: 143 },
};

describe("relaunch on infrastructure failures", () => {
  it("relaunches a run whose task found no capacity: one run, two attempts, then success", async () => {
    const { runId, taskArn } = await launch();
    const outcome = await stop(runId, taskArn, noCapacity);
    expect(outcome).toMatchObject({ action: "relaunched", status: "QUEUED", cause: "capacity" });

    const calls = runTasks();
    expect(calls).toHaveLength(2);
    // The same worker, the same run id; the record carries the parameters now.
    const env2 = Object.fromEntries(
      (calls[1]?.overrides?.containerOverrides?.[0]?.environment ?? []).map((e) => [
        e.name,
        e.value,
      ]),
    );
    expect(env2).toMatchObject({ DAGY_RUN_ID: runId, DAGY_PARAMETERS_IN_RUN: "1" });
    expect(calls[1]).toMatchObject({
      cluster: GUIDE_CONFIG.clusterArn,
      launchType: "FARGATE",
      overrides: { cpu: "1024", memory: "2048" },
    });

    // The worker of attempt 2 claims the run and succeeds.
    const run = await persistence.runs.get(runId);
    expect(run).toMatchObject({ status: "QUEUED", relaunches: 1, task_arn: outcome.taskArn });
    await persistence.runs.transition(runId, "QUEUED", "RUNNING");
    await persistence.runs.transition(runId, "RUNNING", "SUCCEEDED");
    const done = await persistence.runs.get(runId);
    expect(done?.status).toBe("SUCCEEDED");
    expect(done?.attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        task_arn: taskArn,
        stop_code: "TaskFailedToStart",
        outcome: "relaunched",
        capacity_provider: "FARGATE",
        workload_profile: "medium",
      }),
      expect.objectContaining({ attempt: 2, task_arn: outcome.taskArn, cpu: "1024" }),
    ]);
    expect(done?.attempts?.[1]?.stopped_at).toBeUndefined();
  });

  it("a duplicated STOPPED event does not relaunch twice", async () => {
    const { runId, taskArn } = await launch();
    const event = ecsTaskStateChange({ runId, taskId: idOf(taskArn), ...noCapacity });
    const [first, second] = await Promise.all([
      reconcileEcsTaskEvent(event, deps()),
      reconcileEcsTaskEvent(event, deps()),
    ]);
    const actions = [first.action, second.action].sort();
    expect(actions).toEqual(["other_task", "relaunched"]);
    expect(runTasks()).toHaveLength(2);
    const third = await reconcileEcsTaskEvent(event, deps());
    expect(third.action).toBe("other_task");
    expect(runTasks()).toHaveLength(2);
    expect((await persistence.runs.get(runId))?.attempts).toHaveLength(2);
  });

  it("after two Spot interruptions the next attempt runs on on-demand FARGATE", async () => {
    const { runId, taskArn } = await launch({ capacityProvider: "FARGATE_SPOT" });
    await persistence.runs.transition(runId, "QUEUED", "RUNNING");
    const first = await stop(runId, taskArn, spot);
    expect(first).toMatchObject({ action: "relaunched", cause: "spot" });
    await persistence.runs.transition(runId, "QUEUED", "RUNNING");
    const second = await stop(runId, first.taskArn!, spot);
    expect(second).toMatchObject({ action: "relaunched", cause: "spot" });

    const calls = runTasks();
    expect(calls.map((c) => c.capacityProviderStrategy ?? c.launchType)).toEqual([
      [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
      [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
      "FARGATE",
    ]);
    const run = await persistence.runs.get(runId);
    expect(run?.attempts?.map((a) => [a.capacity_provider, a.stop_code ?? null])).toEqual([
      ["FARGATE_SPOT", "SpotInterruption"],
      ["FARGATE_SPOT", "SpotInterruption"],
      ["FARGATE", null],
    ]);
    expect(run).toMatchObject({ status: "QUEUED", relaunches: 2 });

    // Out of relaunches (default 2): a third interruption ends the run, saying so.
    await persistence.runs.transition(runId, "QUEUED", "RUNNING");
    const third = await stop(runId, second.taskArn!, spot);
    expect(third).toMatchObject({ action: "failed", status: "FAILED" });
    expect(third.errorMessage).toMatch(
      /Spot reclaimed.*gave up after 2 relaunches \(max_relaunches 2\)$/,
    );
    expect(runTasks()).toHaveLength(3);
  });

  it("max_relaunches 0 on the request: the first infrastructure failure ends the run", async () => {
    const { runId, taskArn } = await launch({ maxRelaunches: 0 });
    const outcome = await stop(runId, taskArn, noCapacity);
    expect(outcome).toMatchObject({ action: "failed" });
    expect(outcome.errorMessage).toMatch(/gave up after 0 relaunches \(max_relaunches 0\)$/);
    expect(runTasks()).toHaveLength(1);
  });

  it("a user's stop (cancel) ends the run CANCELLED, not relaunched", async () => {
    const { runId, taskArn } = await launch({ capacityProvider: "FARGATE_SPOT" });
    await persistence.runs.transition(runId, "QUEUED", "RUNNING");
    await launcher.cancelRun(runId);
    const outcome = await stop(runId, taskArn, {
      stopCode: "UserInitiated",
      stoppedReason: "Run cancelled",
      container: { exitCode: 143 },
    });
    expect(outcome).toMatchObject({ action: "cancelled", status: "CANCELLED" });
    expect(runTasks()).toHaveLength(1);
    const run = await persistence.runs.get(runId);
    expect(run?.attempts?.[0]).toMatchObject({ outcome: "cancelled", exit_code: 143 });
  });

  it("a flow failure the worker recorded is not relaunched", async () => {
    const { runId, taskArn } = await launch();
    await persistence.runs.transition(runId, "QUEUED", "RUNNING");
    await persistence.runs.transition(runId, "RUNNING", "FAILED", {
      error_message: "Task x failed",
    });
    const outcome = await stop(runId, taskArn, { container: { exitCode: 1 } });
    expect(outcome).toMatchObject({ action: "already_terminal", status: "FAILED" });
    expect(runTasks()).toHaveLength(1);
  });

  it("out of memory: scale_up relaunches on the next larger profile; without it, FAILED", async () => {
    const oom = {
      stopCode: "EssentialContainerExited",
      stoppedReason: "Essential container in task exited",
      container: {
        exitCode: 137,
        reason: "OutOfMemoryError: Container killed due to memory usage",
      },
    };
    const scaled = await launch({ workloadProfile: "small", oomPolicy: "scale_up" });
    await persistence.runs.transition(scaled.runId, "QUEUED", "RUNNING");
    const outcome = await stop(scaled.runId, scaled.taskArn, oom);
    expect(outcome).toMatchObject({ action: "relaunched", cause: "oom" });
    expect(runTasks()[1]?.overrides).toMatchObject({ cpu: "1024", memory: "2048" });
    expect((await persistence.runs.get(scaled.runId))?.attempts?.[1]).toMatchObject({
      workload_profile: "medium",
      memory: "2048",
    });

    const plain = await launch({ workloadProfile: "small" });
    await persistence.runs.transition(plain.runId, "QUEUED", "RUNNING");
    const failed = await stop(plain.runId, plain.taskArn, oom);
    expect(failed).toMatchObject({ action: "failed", status: "FAILED" });
    expect(failed.errorMessage).toMatch(/^Worker ran out of memory and was killed/);
    expect(runTasks()).toHaveLength(3);
  });

  it("finds the run by its task ARN when the event's overrides do not name it", async () => {
    const { runId, taskArn } = await launch();
    const outcome = await reconcileEcsTaskEvent(
      ecsTaskStateChange({ runId, taskId: idOf(taskArn), withRunId: false, ...noCapacity }),
      deps(),
    );
    expect(outcome).toMatchObject({ runId, action: "relaunched" });
  });
});

describe("start timeout", () => {
  it("stops a task PENDING past the timeout and relaunches its run", async () => {
    const { runId, taskArn } = await launch();
    const createdAt = new Date(Date.now() - 11 * 60_000);
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [{ taskArn, lastStatus: "PENDING", createdAt }],
    });
    const report = await sweepStaleRuns({
      ...deps(),
      inspector: new EcsTaskInspector(
        new ECSClient({ region: "us-east-1" }),
        GUIDE_CONFIG.clusterArn,
      ),
      // The run was just written: look at every active run, as an old one would be.
      now: () => new Date(Date.now() + 20 * 60_000),
    });
    const mine = report.outcomes.find((o) => o.runId === runId);
    expect(mine).toMatchObject({ action: "relaunched", cause: "start_timeout" });
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      {
        cluster: GUIDE_CONFIG.clusterArn,
        task: taskArn,
        reason: "Task was still PENDING 10 minutes after it was created (start timeout)",
      },
    ]);
    expect(runTasks()).toHaveLength(2);
    const run = await persistence.runs.get(runId);
    expect(run?.attempts?.[0]).toMatchObject({ stop_code: "StartTimeout", outcome: "relaunched" });

    // The STOPPED event of the task we stopped arrives later: it is no longer the current one.
    const late = await stop(runId, taskArn, { stopCode: "UserInitiated", container: null });
    expect(late.action).toBe("other_task");
    expect(runTasks()).toHaveLength(2);
  });
});
