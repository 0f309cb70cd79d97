/**
 * What a transition may carry besides the status move (lib/persistence/transition-options.ts):
 * a worker's claim without a read first, and its last task states and outputs in the status
 * write. Real DynamoDB semantics (dynalite): each condition holds or nothing is written.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { Persistence } from "../../lib/persistence/persistence";
import { MAX_ENTRIES_WITH_TRANSITION } from "../../lib/persistence/runs";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { newRun } from "./fixtures";

let env: TestEnv;
let persistence: Persistence;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
});
afterAll(() => env.close());

const TASK = { taskArn: "local:claim", startMode: "warm" as const };
const ATTEMPT = { attempt: 1, task_arn: "local:claim", started_at: "2026-01-01T00:00:00.000Z" };

describe("a first claim (no read before the write)", () => {
  const claim = (runId: string, orgId: string) =>
    persistence.runs.transition(
      runId,
      "QUEUED",
      "RUNNING",
      { task_arn: TASK.taskArn },
      { orgId, firstClaim: { task: TASK } },
    );

  it("claims a QUEUED run with no task, or with this task recorded by the launcher", async () => {
    const fresh = newRun();
    await persistence.runs.create(fresh);
    expect(await claim(fresh.run_id, fresh.org_id)).toMatchObject({
      status: "RUNNING",
      task_arn: TASK.taskArn,
    });

    const recorded = newRun();
    await persistence.runs.create(recorded);
    await persistence.runs.recordAttempt(recorded.run_id, { ...ATTEMPT, start_mode: "warm" }, 0);
    const claimed = await claim(recorded.run_id, recorded.org_id);
    expect(claimed).toMatchObject({ status: "RUNNING", task_arn: TASK.taskArn });
    expect(claimed?.attempts).toEqual([{ ...ATTEMPT, start_mode: "warm" }]);
  });

  it("writes nothing for a run in any other state: the worker reads it and decides", async () => {
    const cases = [
      async () => {
        const run = newRun();
        await persistence.runs.create(run);
        await persistence.runs.requestCancel(run.run_id);
        return run;
      },
      async () => {
        const run = newRun();
        await persistence.runs.create({ ...run, started_at: "2026-01-01T00:00:00.000Z" });
        return run;
      },
      async () => {
        const run = newRun();
        await persistence.runs.create(run);
        await persistence.runs.recordAttempt(run.run_id, { ...ATTEMPT, task_arn: "other" }, 0);
        return run;
      },
      async () => {
        // The launcher recorded this task, but without its start mode: the read path sets it.
        const run = newRun();
        await persistence.runs.create(run);
        await persistence.runs.recordAttempt(run.run_id, ATTEMPT, 0);
        return run;
      },
      async () => {
        const run = newRun();
        await persistence.runs.create({ ...run, status: "RUNNING" });
        return run;
      },
    ];
    for (const make of cases) {
      const run = await make();
      const before = await persistence.runs.get(run.run_id);
      expect(await claim(run.run_id, run.org_id)).toBeUndefined();
      expect(await persistence.runs.get(run.run_id)).toEqual(before);
    }
    // A wrong org only fails the condition; a missing run too.
    const run = newRun();
    await persistence.runs.create(run);
    expect(await claim(run.run_id, "another-org")).toBeUndefined();
    expect((await persistence.runs.get(run.run_id))?.status).toBe("QUEUED");
    expect(await claim("no-such-run", run.org_id)).toBeUndefined();
  });

  it("needs no read of the run's org when the caller gives it", async () => {
    const calls: string[] = [];
    const dynamodb = new DynamoDBClient({
      region: "us-east-1",
      endpoint: env.endpoints.dynamodbEndpoint,
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    dynamodb.middlewareStack.add(
      (next, context) => (args) => {
        calls.push(context.commandName ?? "unknown");
        return next(args);
      },
      { step: "initialize", name: "countCommands" },
    );
    try {
      const counted = new Persistence(DynamoDBDocumentClient.from(dynamodb), env.tables);
      const run = newRun();
      await persistence.runs.create(run);
      await counted.runs.transition(run.run_id, "QUEUED", "RUNNING", {}, { orgId: run.org_id });
      expect(calls).toEqual(["UpdateItemCommand"]);
    } finally {
      dynamodb.destroy();
    }
  });
});

describe("task states and outputs in the status write", () => {
  it("are written with the status, merged into the maps, or creating task_outputs", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    await persistence.runs.transition(run.run_id, "QUEUED", "RUNNING");
    await persistence.runs.mergeTaskStates(run.run_id, { a: { status: "SUCCEEDED", attempts: 1 } });
    const done = await persistence.runs.transition(
      run.run_id,
      "RUNNING",
      "SUCCEEDED",
      {},
      {
        taskStates: { b: { status: "SUCCEEDED", attempts: 2, error: "x".repeat(5000) } },
        taskOutputs: { entries: { b: { json: "1", bytes: 1 } }, createMap: true },
      },
    );
    expect(done?.status).toBe("SUCCEEDED");
    expect(Object.keys(done?.task_states ?? {}).sort()).toEqual(["a", "b"]);
    // Compacted as mergeTaskStates does: bounded error text.
    expect(done?.task_states?.b?.error?.length).toBeLessThan(1200);
    expect(done?.task_outputs).toEqual({ b: { json: "1", bytes: 1 } });
  });

  it("are not written when the status condition fails", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const lost = await persistence.runs.transition(
      run.run_id,
      "RUNNING",
      "SUCCEEDED",
      {},
      {
        taskStates: { a: { status: "SUCCEEDED", attempts: 1 } },
        taskOutputs: { entries: { a: { json: "1", bytes: 1 } }, createMap: true },
      },
    );
    expect(lost).toBeUndefined();
    const stored = await persistence.runs.get(run.run_id);
    expect(stored?.task_states).toEqual({});
    expect(stored?.task_outputs).toBeUndefined();
  });

  it("refuses more entries than fit one expression, naming the limit", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const states = Object.fromEntries(
      Array.from({ length: MAX_ENTRIES_WITH_TRANSITION + 1 }, (_, i) => [
        `t${i}`,
        { status: "SUCCEEDED" as const, attempts: 1 },
      ]),
    );
    await expect(
      persistence.runs.transition(run.run_id, "QUEUED", "RUNNING", {}, { taskStates: states }),
    ).rejects.toThrow(`at most ${MAX_ENTRIES_WITH_TRANSITION}`);
  });
});
