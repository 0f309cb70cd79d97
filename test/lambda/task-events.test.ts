import { Persistence } from "../../lib/persistence/persistence";
import type { EcsEventOutcome } from "../../lib/reconcile/ecs-event";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { handlerEnv, setEnv } from "./env";
import {
  cannotPull,
  ecsTaskStateChange,
  exitCode1,
  outOfMemory,
  spotInterruption,
  taskArn,
} from "./fixtures/ecs-events";
import { createRun } from "./runs";

function exitCode1ByArn(runId: string, taskId: string) {
  return ecsTaskStateChange({ runId, taskId, withRunId: false, container: { exitCode: 1 } });
}

let env: TestEnv;
let persistence: Persistence;
let restoreEnv: () => void;
let handler: (event: unknown) => Promise<EcsEventOutcome>;
let taskCounter = 0;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  restoreEnv = setEnv(handlerEnv(env));
  // The module reads its configuration at load, as in a cold start.
  ({ handler } = await import("../../lambda/task-events"));
});

afterAll(async () => {
  restoreEnv();
  await env.close();
});

async function runningRun(fields: Parameters<typeof createRun>[1] = {}) {
  const taskId = `task${++taskCounter}`;
  const run = await createRun(persistence, {
    status: "RUNNING",
    started_at: new Date().toISOString(),
    task_arn: taskArn(taskId),
    ...fields,
  });
  return { run, taskId };
}

describe("task-events handler", () => {
  it("fails a run whose worker exited with code 1, recording exit code and stop reason", async () => {
    const { run, taskId } = await runningRun();
    const outcome = await handler(exitCode1(run.run_id, taskId));
    expect(outcome).toMatchObject({ runId: run.run_id, action: "failed", status: "FAILED" });
    const stored = await persistence.runs.get(run.run_id);
    expect(stored).toMatchObject({
      status: "FAILED",
      exit_code: 1,
      stop_reason: "EssentialContainerExited: Essential container in task exited",
      error_message:
        "Worker exited with code 1 before recording an outcome (stop code EssentialContainerExited; exit code 1; Essential container in task exited)",
    });
    expect(typeof stored?.completed_at).toBe("string");
  });

  it("says plainly that the worker ran out of memory", async () => {
    const { run, taskId } = await runningRun();
    await handler(outOfMemory(run.run_id, taskId));
    const stored = await persistence.runs.get(run.run_id);
    expect(stored).toMatchObject({ status: "FAILED", exit_code: 137 });
    expect(stored?.error_message).toBe(
      "Worker ran out of memory and was killed; launch with a larger workload_profile or memory " +
        "(stop code EssentialContainerExited; exit code 137; OutOfMemoryError: Container killed due to memory usage; Essential container in task exited)",
    );
    expect(stored?.stop_reason).toBe(
      "EssentialContainerExited: OutOfMemoryError: Container killed due to memory usage",
    );
  });

  it("fails a queued run whose image could not be pulled (no containers in the event)", async () => {
    const taskId = `task${++taskCounter}`;
    const run = await createRun(persistence, { status: "QUEUED", task_arn: taskArn(taskId) });
    await handler(cannotPull(run.run_id, taskId));
    const stored = await persistence.runs.get(run.run_id);
    expect(stored).toMatchObject({ status: "FAILED", exit_code: null });
    expect(stored?.error_message).toMatch(
      /^Worker container could not start: the image could not be pulled or the task could not be initialized \(stop code TaskFailedToStart; CannotPullContainerError: pull image manifest/,
    );
  });

  it("names a Fargate Spot interruption", async () => {
    const { run, taskId } = await runningRun({ capacity_provider: "FARGATE_SPOT" });
    await handler(spotInterruption(run.run_id, taskId));
    const stored = await persistence.runs.get(run.run_id);
    expect(stored).toMatchObject({
      status: "FAILED",
      exit_code: 143,
      stop_reason: "SpotInterruption: Your Spot Task was interrupted.",
    });
    expect(stored?.error_message).toMatch(
      /^Worker was interrupted: Fargate Spot reclaimed the capacity/,
    );
  });

  it("fails a run whose worker exited 0 without recording an outcome", async () => {
    const { run, taskId } = await runningRun();
    await handler(ecsTaskStateChange({ runId: run.run_id, taskId, container: { exitCode: 0 } }));
    const stored = await persistence.runs.get(run.run_id);
    expect(stored?.status).toBe("FAILED");
    expect(stored?.error_message).toMatch(/^Worker exited without recording an outcome/);
  });

  it("closes a run whose cancel was requested as CANCELLED", async () => {
    const { run, taskId } = await runningRun({ cancel_requested: true });
    const outcome = await handler(
      ecsTaskStateChange({
        runId: run.run_id,
        taskId,
        stopCode: "UserInitiated",
        stoppedReason: "cancelled by request",
        container: { exitCode: 143 },
      }),
    );
    expect(outcome).toMatchObject({ action: "cancelled", status: "CANCELLED" });
    const stored = await persistence.runs.get(run.run_id);
    expect(stored).toMatchObject({ status: "CANCELLED", exit_code: 143 });
  });

  it("leaves a run the worker already finished untouched", async () => {
    const { run, taskId } = await runningRun();
    await persistence.runs.transition(run.run_id, "RUNNING", "SUCCEEDED");
    const before = await persistence.runs.get(run.run_id);
    const outcome = await handler(
      ecsTaskStateChange({ runId: run.run_id, taskId, container: { exitCode: 0 } }),
    );
    expect(outcome).toMatchObject({ action: "already_terminal", status: "SUCCEEDED" });
    expect(await persistence.runs.get(run.run_id)).toEqual(before);
  });

  it("is idempotent: a repeated event changes nothing", async () => {
    const { run, taskId } = await runningRun();
    await handler(exitCode1(run.run_id, taskId));
    const after = await persistence.runs.get(run.run_id);
    const second = await handler(exitCode1(run.run_id, taskId));
    expect(second).toMatchObject({ action: "already_terminal", status: "FAILED" });
    expect(await persistence.runs.get(run.run_id)).toEqual(after);
  });

  it("ignores an event about another task than the run's current one", async () => {
    const { run } = await runningRun();
    const outcome = await handler(exitCode1(run.run_id, "an-older-task"));
    expect(outcome).toMatchObject({ action: "other_task" });
    expect((await persistence.runs.get(run.run_id))?.status).toBe("RUNNING");
  });

  it.each([
    ["a RUNNING task", { lastStatus: "RUNNING" }, /task is RUNNING, not STOPPED/],
    [
      "a task without DAGY_RUN_ID that is no run's task",
      { withRunId: false, taskId: "not-a-dagy-task" },
      /not a Dagy run/,
    ],
  ])("ignores %s", async (_name, change, reason) => {
    const { run, taskId } = await runningRun();
    const outcome = await handler(ecsTaskStateChange({ runId: run.run_id, taskId, ...change }));
    expect(outcome).toMatchObject({ action: "ignored" });
    expect((outcome as { reason: string }).reason).toMatch(reason);
    expect((await persistence.runs.get(run.run_id))?.status).toBe("RUNNING");
  });

  it("finds the run by its task ARN when the event has no DAGY_RUN_ID override", async () => {
    const { run, taskId } = await runningRun();
    const outcome = await handler(exitCode1ByArn(run.run_id, taskId));
    expect(outcome).toMatchObject({ runId: run.run_id, action: "failed", status: "FAILED" });
  });

  it("ignores events that are not ECS task state changes, without throwing", async () => {
    const outcome = await handler({
      "detail-type": "Scheduled Event",
      source: "aws.events",
      detail: {},
    });
    expect(outcome).toMatchObject({ action: "ignored" });
  });

  it("reports an unknown run without writing anything", async () => {
    const outcome = await handler(exitCode1("00000000-0000-4000-8000-000000000000", "orphan"));
    expect(outcome).toMatchObject({ action: "unknown_run" });
  });
});
