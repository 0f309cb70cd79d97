import { DescribeTasksCommand, ECSClient } from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { Persistence } from "../../lib/persistence/persistence";
import { EcsTaskInspector } from "../../lib/reconcile/ecs-inspector";
import type { SweepReport } from "../../lib/reconcile/types";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { handlerEnv, setEnv } from "./env";
import { CLUSTER_ARN, taskArn } from "./fixtures/ecs-events";
import { createRun } from "./runs";

const ecs = mockClient(ECSClient);
let env: TestEnv;
let persistence: Persistence;
let restoreEnv: () => void;
let handler: () => Promise<SweepReport>;

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  restoreEnv = setEnv(
    handlerEnv(env, { DAGY_RECONCILE_QUEUED_MINUTES: "15", DAGY_RECONCILE_RUNNING_MINUTES: "10" }),
  );
  ({ handler } = await import("../../lambda/reconcile"));
});

afterAll(async () => {
  ecs.restore();
  restoreEnv();
  await env.close();
});

describe("reconcile handler (sweep)", () => {
  it("closes stale runs whose tasks are missing or stopped, and fails runs never submitted", async () => {
    const cancelled = await createRun(persistence, {
      status: "QUEUED",
      task_arn: taskArn("w"),
      cancel_requested: true,
      created_at: minutesAgo(65),
      updated_at: minutesAgo(65),
    });
    const neverSubmitted = await createRun(persistence, {
      status: "QUEUED",
      created_at: minutesAgo(60),
      updated_at: minutesAgo(60),
    });
    const missing = await createRun(persistence, {
      status: "RUNNING",
      task_arn: taskArn("x"),
      created_at: minutesAgo(63),
      updated_at: minutesAgo(63),
    });
    const stopped = await createRun(persistence, {
      status: "RUNNING",
      task_arn: taskArn("y"),
      created_at: minutesAgo(62),
      updated_at: minutesAgo(62),
    });
    const healthy = await createRun(persistence, {
      status: "RUNNING",
      task_arn: taskArn("z"),
      created_at: minutesAgo(61),
      updated_at: minutesAgo(61),
    });
    const recent = await createRun(persistence, { status: "RUNNING", task_arn: taskArn("recent") });
    const freshQueued = await createRun(persistence, { status: "QUEUED" });

    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: taskArn("w"),
          lastStatus: "STOPPED",
          stopCode: "UserInitiated",
          stoppedReason: "cancelled by request",
          containers: [{ name: "worker", exitCode: 143 }],
        },
        {
          taskArn: taskArn("y"),
          lastStatus: "STOPPED",
          stopCode: "EssentialContainerExited",
          stoppedReason: "Essential container in task exited",
          containers: [{ name: "worker", exitCode: 1 }],
        },
        { taskArn: taskArn("z"), lastStatus: "RUNNING", containers: [{ name: "worker" }] },
      ],
      failures: [{ arn: taskArn("x"), reason: "MISSING" }],
    });

    const report = await handler();

    expect(ecs.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: CLUSTER_ARN, tasks: [taskArn("w"), taskArn("x"), taskArn("y"), taskArn("z")] },
    ]);
    expect(report.examined).toBe(5);
    const byRun = Object.fromEntries(report.outcomes.map((o) => [o.runId, o.action]));
    expect(byRun).toEqual({
      [cancelled.run_id]: "cancelled",
      [neverSubmitted.run_id]: "failed",
      [missing.run_id]: "failed",
      [stopped.run_id]: "failed",
    });

    expect(await persistence.runs.get(cancelled.run_id)).toMatchObject({
      status: "CANCELLED",
      exit_code: 143,
    });
    const never = await persistence.runs.get(neverSubmitted.run_id);
    expect(never).toMatchObject({ status: "FAILED", stop_reason: "NEVER_SUBMITTED" });
    expect(never?.error_message).toMatch(
      /^Run was never submitted: no worker task was started within 15 minutes/,
    );
    const gone = await persistence.runs.get(missing.run_id);
    expect(gone).toMatchObject({ status: "FAILED", stop_reason: "MISSING", exit_code: null });
    expect(gone?.error_message).toMatch(
      new RegExp(
        `^Worker task ${taskArn("x").replace(/[/.]/g, "\\$&")} no longer exists in ECS; it stopped without recording an outcome \\(DescribeTasks: MISSING\\)`,
      ),
    );
    expect(await persistence.runs.get(stopped.run_id)).toMatchObject({
      status: "FAILED",
      exit_code: 1,
    });
    expect((await persistence.runs.get(healthy.run_id))?.status).toBe("RUNNING");
    expect((await persistence.runs.get(recent.run_id))?.status).toBe("RUNNING");
    expect((await persistence.runs.get(freshQueued.run_id))?.status).toBe("QUEUED");
  });
});

describe("EcsTaskInspector", () => {
  it("asks DescribeTasks about at most 100 tasks per call", async () => {
    ecs.reset();
    ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((arn) => ({ taskArn: arn, lastStatus: "RUNNING" })),
      failures: [],
    }));
    const arns = Array.from({ length: 150 }, (_, i) => taskArn(`t${i}`));
    const inspector = new EcsTaskInspector(new ECSClient({ region: "us-east-1" }), CLUSTER_ARN);
    const observations = await inspector.describe(arns);
    const calls = ecs.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { cluster: CLUSTER_ARN, tasks: arns.slice(0, 100) },
      { cluster: CLUSTER_ARN, tasks: arns.slice(100) },
    ]);
    expect(observations.size).toBe(150);
  });

  it("treats only MISSING failures as proof the task is gone", async () => {
    ecs.reset();
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [],
      failures: [
        { arn: taskArn("gone"), reason: "MISSING" },
        { arn: taskArn("denied"), reason: "ACCESS_DENIED" },
      ],
    });
    const inspector = new EcsTaskInspector(new ECSClient({ region: "us-east-1" }), CLUSTER_ARN);
    const observations = await inspector.describe([taskArn("gone"), taskArn("denied")]);
    expect([...observations.entries()]).toEqual([
      [taskArn("gone"), { state: "missing", reason: "DescribeTasks: MISSING" }],
    ]);
  });
});
