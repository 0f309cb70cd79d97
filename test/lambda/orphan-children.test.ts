/**
 * Isolated maps leave no orphans in AWS: when reconciliation closes a parent run whose worker
 * died (the task-events handler on an ECS Task State Change, or the sweep when that event was
 * lost), the parent's active child runs are cancelled — QUEUED ones at once, RUNNING ones by
 * StopTask. A parent relaunched after an infrastructure failure keeps its children. Through the
 * Lambda handlers over local DynamoDB; ECS mocked, its requests asserted.
 */
import {
  DescribeTasksCommand,
  ECSClient,
  RunTaskCommand,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { mockClient } from "aws-sdk-client-mock";
import { Persistence } from "../../lib/persistence/persistence";
import type { RunRecord } from "../../lib/persistence/records";
import type { EcsEventOutcome } from "../../lib/reconcile/ecs-event";
import type { SweepReport } from "../../lib/reconcile/types";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { handlerEnv, setEnv } from "./env";
import { CLUSTER_ARN, exitCode1, spotInterruption, taskArn } from "./fixtures/ecs-events";
import { createRun } from "./runs";

const ecs = mockClient(ECSClient);
// Run status announcements: not what this file is about, but no call may leave the machine.
const events = mockClient(EventBridgeClient);
let env: TestEnv;
let persistence: Persistence;
let restoreEnv: () => void;
let taskEvents: (event: unknown) => Promise<EcsEventOutcome>;
let sweep: () => Promise<SweepReport>;
let counter = 0;

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  restoreEnv = setEnv(handlerEnv(env, { DAGY_RECONCILE_RUNNING_MINUTES: "10" }));
  ({ handler: taskEvents } = await import("../../lambda/task-events"));
  ({ handler: sweep } = await import("../../lambda/reconcile"));
});

beforeEach(() => {
  ecs.reset();
  ecs.on(StopTaskCommand).resolves({});
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
});

afterAll(async () => {
  ecs.restore();
  events.restore();
  restoreEnv();
  await env.close();
});

/** A RUNNING parent on task `p<n>` with a QUEUED, a RUNNING and a SUCCEEDED child. */
async function parentWithChildren(parentFields: Partial<RunRecord> = {}) {
  const n = ++counter;
  const parent = await createRun(persistence, {
    status: "RUNNING",
    task_arn: taskArn(`p${n}`),
    started_at: minutesAgo(1),
    ...parentFields,
  });
  const child = (i: number, fields: Partial<RunRecord>) =>
    createRun(persistence, {
      parent_run_id: parent.run_id,
      map_task: "square",
      map_items: `${i}-${i}`,
      correlation_id: `${parent.correlation_id}:${i}`,
      trigger_source: "map",
      ...fields,
    });
  const queued = await child(0, { status: "QUEUED" });
  const running = await child(1, {
    status: "RUNNING",
    task_arn: taskArn(`c${n}`),
    started_at: minutesAgo(1),
  });
  const succeeded = await child(2, { status: "SUCCEEDED", completed_at: minutesAgo(1) });
  return { n, parent, queued, running, succeeded };
}

const statusOf = async (run: RunRecord) => (await persistence.runs.get(run.run_id))?.status;

describe("a parent whose worker died", () => {
  it("task-events: the parent FAILS and its active children are cancelled (StopTask for the running one)", async () => {
    const { n, parent, queued, running, succeeded } = await parentWithChildren();

    const outcome = await taskEvents(exitCode1(parent.run_id, `p${n}`));

    expect(outcome).toMatchObject({ runId: parent.run_id, action: "failed" });
    expect(await statusOf(queued)).toBe("CANCELLED");
    expect(await persistence.runs.get(running.run_id)).toMatchObject({
      status: "RUNNING",
      cancel_requested: true,
    });
    expect(await statusOf(succeeded)).toBe("SUCCEEDED");
    expect(ecs.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      {
        cluster: CLUSTER_ARN,
        task: taskArn(`c${n}`),
        reason: `parent run ${parent.run_id} is FAILED`,
      },
    ]);
    // The running child's own STOPPED event then closes it CANCELLED (cancel was requested).
    const closed = await taskEvents(exitCode1(running.run_id, `c${n}`));
    expect(closed).toMatchObject({ action: "cancelled", status: "CANCELLED" });
  });

  it("task-events: a parent relaunched after a Spot interruption keeps its children", async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: taskArn("relaunched") }], failures: [] });
    const { n, parent, queued, running } = await parentWithChildren();

    const outcome = await taskEvents(spotInterruption(parent.run_id, `p${n}`));

    expect(outcome).toMatchObject({ runId: parent.run_id, action: "relaunched" });
    expect(await statusOf(queued)).toBe("QUEUED");
    expect(await statusOf(running)).toBe("RUNNING");
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  it("the sweep: a stale parent whose task is gone FAILS and its active children are cancelled", async () => {
    const { n, parent, queued, running } = await parentWithChildren({
      created_at: minutesAgo(40),
      updated_at: minutesAgo(30),
    });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [],
      failures: [{ arn: taskArn(`p${n}`), reason: "MISSING" }],
    });

    const report = await sweep();

    expect(report.outcomes).toContainEqual(
      expect.objectContaining({ runId: parent.run_id, action: "failed" }),
    );
    expect(await statusOf(queued)).toBe("CANCELLED");
    expect(ecs.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      {
        cluster: CLUSTER_ARN,
        task: taskArn(`c${n}`),
        reason: `parent run ${parent.run_id} is FAILED`,
      },
    ]);
    expect((await persistence.runs.get(running.run_id))?.cancel_requested).toBe(true);
  });
});
