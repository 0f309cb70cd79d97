import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { ConflictError, RunNotFoundError, ValidationError } from "../../lib/errors";
import { Persistence } from "../../lib/persistence/persistence";
import { MAX_TASK_ERROR_CHARS, type PersistenceLogger } from "../../lib/persistence/runs";
import type { TaskState } from "../../lib/sdk/types";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { newRun, timestamps, uniqueOrg } from "./fixtures";

let env: TestEnv;
let persistence: Persistence;
const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
const logger: PersistenceLogger = { warn: (message, fields) => warnings.push({ message, fields }) };

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables, { logger });
});
afterAll(() => env.close());

/** Counts the DynamoDB operations sent through a separate client. */
function countingPersistence(): { persistence: Persistence; calls: string[]; destroy(): void } {
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
  const doc = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    persistence: new Persistence(doc, env.tables, { logger }),
    calls,
    destroy: () => dynamodb.destroy(),
  };
}

describe("create and get", () => {
  it("stores the run, initializes task_states and hides index attributes", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const stored = await persistence.runs.get(run.run_id);
    expect(stored).toEqual({ ...run, task_states: {} });
    const raw = await env.clients.doc.send(
      new GetCommand({ TableName: env.tables.runs, Key: { run_id: run.run_id } }),
    );
    expect(raw.Item).toMatchObject({
      org_flow: "acme-corp#etl_pipeline",
      org_status: "acme-corp#QUEUED",
      active_status: "QUEUED",
    });
  });

  it("refuses to create a run id twice", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    await expect(persistence.runs.create({ ...run, flow_name: "other" })).rejects.toThrow(
      ConflictError,
    );
    expect((await persistence.runs.get(run.run_id))?.flow_name).toBe("etl_pipeline");
  });

  it("returns undefined for an unknown run", async () => {
    expect(await persistence.runs.get("no-such-run")).toBeUndefined();
  });

  it("rejects invalid identifiers naming the field", async () => {
    await expect(persistence.runs.create(newRun({ org_id: "acme corp" }))).rejects.toThrow(
      /org_id "acme corp" is invalid/,
    );
    await expect(persistence.runs.create(newRun({ flow_name: "a#b" }))).rejects.toThrow(
      ValidationError,
    );
  });
});

describe("transition", () => {
  it("QUEUED -> RUNNING -> SUCCEEDED sets timestamps and clears the active index", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const running = await persistence.runs.transition(run.run_id, "QUEUED", "RUNNING", {
      task_arn: "arn:aws:ecs:us-east-1:1:task/c/abc",
    });
    expect(running?.status).toBe("RUNNING");
    expect(running?.started_at).toEqual(expect.any(String));
    expect(running?.task_arn).toBe("arn:aws:ecs:us-east-1:1:task/c/abc");
    expect(running?.completed_at).toBeUndefined();

    const done = await persistence.runs.transition(run.run_id, "RUNNING", "SUCCEEDED", {
      exit_code: 0,
    });
    expect(done).toMatchObject({
      status: "SUCCEEDED",
      exit_code: 0,
      started_at: running?.started_at,
    });
    expect(done?.completed_at).toEqual(expect.any(String));
    const raw = await env.clients.doc.send(
      new GetCommand({ TableName: env.tables.runs, Key: { run_id: run.run_id } }),
    );
    expect(raw.Item?.active_status).toBeUndefined();
    expect(raw.Item?.org_status).toBe("acme-corp#SUCCEEDED");
  });

  it("accepts a list of from statuses", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const failed = await persistence.runs.transition(run.run_id, ["QUEUED", "RUNNING"], "FAILED", {
      error_message: "task died",
    });
    expect(failed).toMatchObject({ status: "FAILED", error_message: "task died" });
  });

  it("returns undefined when the current status is not in from, and changes nothing", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    expect(await persistence.runs.transition(run.run_id, "RUNNING", "SUCCEEDED")).toBeUndefined();
    expect((await persistence.runs.get(run.run_id))?.status).toBe("QUEUED");
  });

  it("returns undefined for a missing run", async () => {
    expect(await persistence.runs.transition("missing-run", "QUEUED", "RUNNING")).toBeUndefined();
  });

  it("throws for transitions the state machine forbids (terminal statuses never change)", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    await expect(persistence.runs.transition(run.run_id, "SUCCEEDED", "RUNNING")).rejects.toThrow(
      /invalid run status transition SUCCEEDED -> RUNNING/,
    );
    await expect(persistence.runs.transition(run.run_id, "QUEUED", "SUCCEEDED")).rejects.toThrow(
      /QUEUED -> SUCCEEDED/,
    );
    await expect(
      persistence.runs.transition(run.run_id, "QUEUED", "RUNNING", { status: "FAILED" }),
    ).rejects.toThrow(/use transition/);
  });

  it("a terminal run stays terminal: a late writer cannot move it", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    await persistence.runs.transition(run.run_id, "QUEUED", "CANCELLED");
    expect(
      await persistence.runs.transition(run.run_id, ["QUEUED", "RUNNING"], "FAILED"),
    ).toBeUndefined();
    expect((await persistence.runs.get(run.run_id))?.status).toBe("CANCELLED");
  });

  it("of two concurrent transitions exactly one wins", async () => {
    for (let round = 0; round < 5; round++) {
      const run = newRun({ status: "RUNNING" });
      await persistence.runs.create(run);
      // A fresh repository per writer: no shared cache, as with two processes.
      const a = new Persistence(env.clients.doc, env.tables);
      const b = new Persistence(env.clients.doc, env.tables);
      const [succeeded, failed] = await Promise.all([
        a.runs.transition(run.run_id, "RUNNING", "SUCCEEDED"),
        b.runs.transition(run.run_id, "RUNNING", "FAILED", { error_message: "reconciler" }),
      ]);
      const winners = [succeeded, failed].filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect((await persistence.runs.get(run.run_id))?.status).toBe(winners[0]!.status);
    }
  });
});

describe("the injected clock", () => {
  it("stamps status writes and updates with the persistence's now()", async () => {
    const at = new Date("2024-05-01T10:00:00.000Z");
    const clocked = new Persistence(env.clients.doc, env.tables, { logger, now: () => at });
    const run = newRun({ org_id: uniqueOrg() });
    await clocked.runs.create(run);
    expect(await clocked.runs.transition(run.run_id, "QUEUED", "RUNNING")).toMatchObject({
      started_at: at.toISOString(),
      updated_at: at.toISOString(),
    });
    expect(await clocked.runs.transition(run.run_id, "RUNNING", "SUCCEEDED")).toMatchObject({
      completed_at: at.toISOString(),
    });
  });
});

describe("update and requestCancel", () => {
  it("update sets non-status fields and refuses status", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const updated = await persistence.runs.update(run.run_id, {
      log_stream: "dagy/worker/abc",
      exit_code: null,
    });
    expect(updated).toMatchObject({
      log_stream: "dagy/worker/abc",
      exit_code: null,
      status: "QUEUED",
    });
    await expect(persistence.runs.update(run.run_id, { status: "RUNNING" })).rejects.toThrow(
      /use transition/,
    );
    expect(await persistence.runs.update("missing-run", { task_arn: "x" })).toBeUndefined();
  });

  it("requestCancel flags an active run and leaves a terminal one unchanged", async () => {
    const active = newRun();
    await persistence.runs.create(active);
    expect((await persistence.runs.requestCancel(active.run_id))?.cancel_requested).toBe(true);

    const finished = newRun();
    await persistence.runs.create(finished);
    await persistence.runs.transition(finished.run_id, "QUEUED", "FAILED");
    const after = await persistence.runs.requestCancel(finished.run_id);
    expect(after?.status).toBe("FAILED");
    expect(after?.cancel_requested).toBeUndefined();

    expect(await persistence.runs.requestCancel("missing-run")).toBeUndefined();
  });
});

describe("mergeTaskStates", () => {
  const state = (status: TaskState["status"], attempts = 1): TaskState => ({ status, attempts });

  it("writes all states of one call in one UpdateItem and merges with earlier ones", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const counting = countingPersistence();
    try {
      await counting.persistence.runs.mergeTaskStates(run.run_id, {
        extract: state("SUCCEEDED"),
        "transform.v2": state("RUNNING"),
        "load data": state("PENDING", 0),
      });
      expect(counting.calls).toEqual(["UpdateItemCommand"]);
      counting.calls.length = 0;
      await counting.persistence.runs.mergeTaskStates(run.run_id, {
        "transform.v2": { status: "FAILED", attempts: 2, error: "boom" },
      });
      expect(counting.calls).toEqual(["UpdateItemCommand"]);
    } finally {
      counting.destroy();
    }
    expect((await persistence.runs.get(run.run_id))?.task_states).toEqual({
      extract: state("SUCCEEDED"),
      "transform.v2": { status: "FAILED", attempts: 2, error: "boom" },
      "load data": state("PENDING", 0),
    });
  });

  it("splits a large batch into chunks of 100 tasks", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    const states: Record<string, TaskState> = {};
    for (let i = 0; i < 250; i++) states[`task_${i}`] = state("SUCCEEDED");
    const counting = countingPersistence();
    try {
      await counting.persistence.runs.mergeTaskStates(run.run_id, states);
      expect(counting.calls).toEqual([
        "UpdateItemCommand",
        "UpdateItemCommand",
        "UpdateItemCommand",
      ]);
    } finally {
      counting.destroy();
    }
    expect(Object.keys((await persistence.runs.get(run.run_id))?.task_states ?? {})).toHaveLength(
      250,
    );
  });

  it("bounds error text", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    await persistence.runs.mergeTaskStates(run.run_id, {
      t: { status: "FAILED", attempts: 1, error: "x".repeat(5000) },
    });
    const error = (await persistence.runs.get(run.run_id))?.task_states?.t?.error ?? "";
    expect(error.startsWith("x".repeat(MAX_TASK_ERROR_CHARS))).toBe(true);
    expect(error).toMatch(/\[truncated 4000 characters; see the run's logs\]$/);
  });

  it("creates the map for a run written without task_states", async () => {
    const run = newRun();
    await env.clients.doc.send(new PutCommand({ TableName: env.tables.runs, Item: run }));
    await persistence.runs.mergeTaskStates(run.run_id, { a: state("RUNNING") });
    expect((await persistence.runs.get(run.run_id))?.task_states).toEqual({ a: state("RUNNING") });
  });

  it("throws RunNotFoundError for a missing run", async () => {
    await expect(
      persistence.runs.mergeTaskStates("missing-run", { a: state("RUNNING") }),
    ).rejects.toThrow(RunNotFoundError);
  });

  it("at the 400 KB item limit drops error text, then marks the run truncated, never throwing", async () => {
    const run = newRun();
    await persistence.runs.create(run);
    warnings.length = 0;
    const longError = "e".repeat(MAX_TASK_ERROR_CHARS);
    const withErrors: Record<string, TaskState> = {};
    for (let i = 0; i < 400; i++)
      withErrors[`t${i}`] = { status: "FAILED", attempts: 1, error: longError };
    await persistence.runs.mergeTaskStates(run.run_id, withErrors);
    let stored = await persistence.runs.get(run.run_id);
    expect(Object.keys(stored?.task_states ?? {})).toHaveLength(400);
    expect(stored?.task_states?.t0?.error).toBe(longError);
    expect(stored?.task_states?.t399?.error).toBe("[omitted: run record size limit]");
    expect(stored?.task_states_truncated).toBeUndefined();

    // Task ids so long that even compact states cannot fit.
    const huge: Record<string, TaskState> = {};
    for (let i = 0; i < 400; i++) huge[`${"id".repeat(150)}_${i}`] = state("SUCCEEDED");
    await expect(persistence.runs.mergeTaskStates(run.run_id, huge)).resolves.toBeUndefined();
    stored = await persistence.runs.get(run.run_id);
    expect(stored?.task_states_truncated).toBe(true);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatchObject({
      message: expect.stringContaining("400 KB"),
      fields: { run_id: run.run_id },
    });
  });
});

describe("list", () => {
  it("lists newest first, pages with nextToken and filters by flow and status", async () => {
    const org = uniqueOrg();
    const times = timestamps(7);
    const runs = times.map((created_at, i) =>
      newRun({
        org_id: org,
        created_at,
        flow_name: i % 2 === 0 ? "etl" : "report",
        status: i < 3 ? "SUCCEEDED" : "QUEUED",
      }),
    );
    for (const run of runs) await persistence.runs.create(run);
    const newestFirst = [...runs].reverse().map((r) => r.run_id);

    const page1 = await persistence.runs.list({ orgId: org, limit: 3 });
    expect(page1.items.map((r) => r.run_id)).toEqual(newestFirst.slice(0, 3));
    expect(page1.nextToken).toEqual(expect.any(String));
    const page2 = await persistence.runs.list({ orgId: org, limit: 3, nextToken: page1.nextToken });
    expect(page2.items.map((r) => r.run_id)).toEqual(newestFirst.slice(3, 6));
    const page3 = await persistence.runs.list({ orgId: org, limit: 3, nextToken: page2.nextToken });
    expect(page3.items.map((r) => r.run_id)).toEqual(newestFirst.slice(6));
    expect(page3.nextToken).toBeUndefined();

    const etl = await persistence.runs.list({ orgId: org, flowName: "etl" });
    expect(etl.items.map((r) => r.run_id)).toEqual(
      newestFirst.filter((id) => runs.find((r) => r.run_id === id)!.flow_name === "etl"),
    );
    const succeeded = await persistence.runs.list({ orgId: org, status: "SUCCEEDED" });
    expect(succeeded.items.map((r) => r.run_id)).toEqual(
      [runs[2]!, runs[1]!, runs[0]!].map((r) => r.run_id),
    );

    // flow + status, paged one at a time through a filtered index.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await persistence.runs.list({
        orgId: org,
        flowName: "etl",
        status: "QUEUED",
        limit: 1,
        nextToken: token,
      });
      seen.push(...page.items.map((r) => r.run_id));
      token = page.nextToken;
    } while (token);
    expect(seen).toEqual([runs[6]!, runs[4]!].map((r) => r.run_id));
  });

  it("reflects status changes in the status filter", async () => {
    const org = uniqueOrg();
    const run = newRun({ org_id: org });
    await persistence.runs.create(run);
    await persistence.runs.transition(run.run_id, "QUEUED", "RUNNING");
    expect((await persistence.runs.list({ orgId: org, status: "QUEUED" })).items).toEqual([]);
    expect(
      (await persistence.runs.list({ orgId: org, status: "RUNNING" })).items.map((r) => r.run_id),
    ).toEqual([run.run_id]);
  });

  it("rejects malformed tokens, tokens of other listings and bad limits", async () => {
    const org = uniqueOrg();
    for (const created_at of timestamps(3))
      await persistence.runs.create(newRun({ org_id: org, created_at }));
    const { nextToken } = await persistence.runs.list({ orgId: org, limit: 1 });
    await expect(persistence.runs.list({ orgId: org, nextToken: "not!base64" })).rejects.toThrow(
      /nextToken is invalid/,
    );
    await expect(
      persistence.runs.list({ orgId: org, nextToken: Buffer.from("[1]").toString("base64url") }),
    ).rejects.toThrow(ValidationError);
    await expect(persistence.runs.list({ orgId: uniqueOrg(), nextToken })).rejects.toThrow(
      /nextToken is invalid \(it belongs to a different listing\)/,
    );
    await expect(
      persistence.runs.list({ orgId: org, status: "QUEUED", nextToken }),
    ).rejects.toThrow(/nextToken/);
    await expect(persistence.runs.list({ orgId: org, limit: 0 })).rejects.toThrow(
      /limit must be an integer from 1 to 100/,
    );
    await expect(persistence.runs.list({ orgId: org, limit: 101 })).rejects.toThrow(
      ValidationError,
    );
  });
});

describe("list by parent_run_id", () => {
  it("lists a run's children in launch order, only within the org, paging and by status", async () => {
    const org = uniqueOrg();
    const parent = newRun({ org_id: org });
    await persistence.runs.create(parent);
    const times = timestamps(3);
    const children = times.map((t, i) =>
      newRun({
        org_id: org,
        created_at: t,
        updated_at: t,
        parent_run_id: parent.run_id,
        trigger_source: "map",
        correlation_id: `${parent.correlation_id}:${i}`,
      }),
    );
    for (const child of [...children].reverse()) await persistence.runs.create(child);
    // Another org naming the same parent id never shows up.
    await persistence.runs.create(newRun({ org_id: uniqueOrg(), parent_run_id: parent.run_id }));

    const all = await persistence.runs.list({ orgId: org, parentRunId: parent.run_id });
    expect(all.items.map((r) => r.correlation_id)).toEqual(children.map((c) => c.correlation_id));
    const first = await persistence.runs.list({ orgId: org, parentRunId: parent.run_id, limit: 2 });
    expect(first.items).toHaveLength(2);
    const rest = await persistence.runs.list({
      orgId: org,
      parentRunId: parent.run_id,
      limit: 2,
      nextToken: first.nextToken,
    });
    expect(rest.items.map((r) => r.run_id)).toEqual([children[2]!.run_id]);

    await persistence.runs.transition(children[1]!.run_id, "QUEUED", "RUNNING");
    const running = await persistence.runs.list({
      orgId: org,
      parentRunId: parent.run_id,
      status: "RUNNING",
    });
    expect(running.items.map((r) => r.run_id)).toEqual([children[1]!.run_id]);
    expect(
      (await persistence.runs.list({ orgId: uniqueOrg(), parentRunId: parent.run_id })).items,
    ).toEqual([]);
  });

  it("rejects a malformed parent_run_id naming the field", async () => {
    await expect(persistence.runs.list({ orgId: uniqueOrg(), parentRunId: "a#b" })).rejects.toThrow(
      /parent_run_id/,
    );
  });
});

describe("listActive", () => {
  it("lists QUEUED or RUNNING runs, least recently updated first, with an updatedBefore cut", async () => {
    // Far-past timestamps keep this listing apart from runs other tests create now.
    const times = timestamps(4, Date.UTC(2001, 0, 1));
    const runs = times.map((t) => newRun({ created_at: t, updated_at: t }));
    for (const run of runs) await persistence.runs.create(run);
    const page = await persistence.runs.listActive({ status: "QUEUED", updatedBefore: times[3] });
    expect(page.items.map((r) => r.run_id)).toEqual(runs.slice(0, 3).map((r) => r.run_id));

    await persistence.runs.transition(runs[0]!.run_id, "QUEUED", "RUNNING");
    await persistence.runs.transition(runs[1]!.run_id, "QUEUED", "CANCELLED");
    const queued = await persistence.runs.listActive({
      status: "QUEUED",
      updatedBefore: "2002-01-01T00:00:00.000Z",
    });
    expect(queued.items.map((r) => r.run_id)).toEqual([runs[2]!, runs[3]!].map((r) => r.run_id));
    const running = await persistence.runs.listActive({ status: "RUNNING", limit: 100 });
    expect(running.items.map((r) => r.run_id)).toContain(runs[0]!.run_id);

    const first = await persistence.runs.listActive({
      status: "QUEUED",
      updatedBefore: "2002-01-01T00:00:00.000Z",
      limit: 1,
    });
    const second = await persistence.runs.listActive({
      status: "QUEUED",
      updatedBefore: "2002-01-01T00:00:00.000Z",
      limit: 1,
      nextToken: first.nextToken,
    });
    expect([...first.items, ...second.items].map((r) => r.run_id)).toEqual(
      [runs[2]!, runs[3]!].map((r) => r.run_id),
    );
  });

  it("rejects terminal statuses", async () => {
    await expect(persistence.runs.listActive({ status: "FAILED" as "QUEUED" })).rejects.toThrow(
      /status must be QUEUED or RUNNING/,
    );
  });
});

describe("idempotency keys", () => {
  const claim = (org: string, key: string, runId: string, now?: Date) =>
    persistence.idempotency.claim(org, key, runId, now !== undefined ? { now } : {});
  it("the first claim wins for 24 hours; later claims get the first run id", async () => {
    const org = uniqueOrg();
    const now = new Date("2024-05-01T10:00:00Z");
    expect(await claim(org, "nightly-2024-05-01", "run-1", now)).toEqual({ claimed: true });
    expect(await claim(org, "nightly-2024-05-01", "run-2", now)).toEqual({
      claimed: false,
      runId: "run-1",
    });
    const almostADayLater = new Date(now.getTime() + 24 * 3600 * 1000 - 1000);
    expect(await claim(org, "nightly-2024-05-01", "run-3", almostADayLater)).toEqual({
      claimed: false,
      runId: "run-1",
    });
    // Keys are per org.
    expect(await claim(uniqueOrg(), "nightly-2024-05-01", "run-4", now)).toEqual({
      claimed: true,
    });
  });

  it("an expired claim can be taken over", async () => {
    const org = uniqueOrg();
    const now = new Date("2024-05-01T10:00:00Z");
    await claim(org, "k", "run-1", now);
    const later = new Date(now.getTime() + 24 * 3600 * 1000 + 1000);
    expect(await claim(org, "k", "run-2", later)).toEqual({
      claimed: true,
    });
    expect(await claim(org, "k", "run-3", later)).toEqual({
      claimed: false,
      runId: "run-2",
    });
  });

  it("release frees the key only for the run that holds it", async () => {
    const org = uniqueOrg();
    await claim(org, "k", "run-1");
    await persistence.idempotency.release(org, "k", "someone-else");
    expect(await claim(org, "k", "run-2")).toEqual({
      claimed: false,
      runId: "run-1",
    });
    await persistence.idempotency.release(org, "k", "run-1");
    expect(await claim(org, "k", "run-2")).toEqual({
      claimed: true,
    });
  });

  it("concurrent claims: exactly one wins", async () => {
    const org = uniqueOrg();
    const results = await Promise.all(
      ["a", "b", "c", "d"].map((id) => claim(org, "same", `run-${id}`)),
    );
    const winners = results.filter((r) => r.claimed);
    expect(winners).toHaveLength(1);
    const winnerId = ["a", "b", "c", "d"].find((_, i) => results[i]!.claimed);
    for (const r of results) if (!r.claimed) expect(r.runId).toBe(`run-${winnerId}`);
  });

  it("the same key with another payload hash is a ConflictError naming the key", async () => {
    const org = uniqueOrg();
    const now = new Date("2024-05-01T10:00:00Z");
    const first = { now, payloadHash: "a".repeat(64) };
    expect(await persistence.idempotency.claim(org, "order-9", "run-1", first)).toEqual({
      claimed: true,
    });
    expect(await persistence.idempotency.claim(org, "order-9", "run-2", first)).toEqual({
      claimed: false,
      runId: "run-1",
    });
    const other = persistence.idempotency.claim(org, "order-9", "run-3", {
      now,
      payloadHash: "b".repeat(64),
    });
    await expect(other).rejects.toThrow(ConflictError);
    await expect(other).rejects.toThrow(/idempotency key order-9 .*different launch request/);
    // After the window the key is free again, whatever the payload.
    const later = new Date(now.getTime() + 24 * 3600 * 1000 + 1000);
    expect(
      await persistence.idempotency.claim(org, "order-9", "run-4", {
        now: later,
        payloadHash: "b".repeat(64),
      }),
    ).toEqual({ claimed: true });
  });

  it("a record holds its status and payload hash, as Powertools' IdempotencyRecord", async () => {
    const org = uniqueOrg();
    const now = new Date("2024-05-01T10:00:00Z");
    await persistence.idempotency.claim(org, "k", "run-1", { now, payloadHash: "c".repeat(64) });
    expect(await persistence.idempotency.get(org, "k")).toEqual({
      orgId: org,
      key: "k",
      status: "INPROGRESS",
      runId: "run-1",
      payloadHash: "c".repeat(64),
      claimedAt: now.toISOString(),
      expiresAt: Math.floor(now.getTime() / 1000) + 24 * 3600,
    });
    await persistence.idempotency.complete(org, "k", "someone-else");
    expect((await persistence.idempotency.get(org, "k"))?.status).toBe("INPROGRESS");
    await persistence.idempotency.complete(org, "k", "run-1");
    expect((await persistence.idempotency.get(org, "k"))?.status).toBe("COMPLETED");
  });

  it("idempotency records are not runs and do not show up in listings", async () => {
    const org = uniqueOrg();
    await claim(org, "k", "run-1");
    expect(await persistence.runs.list({ orgId: org })).toEqual({ items: [] });
    await expect(claim(org, "has space", "run-1")).rejects.toThrow(
      /idempotency_key "has space" is invalid/,
    );
  });
});
