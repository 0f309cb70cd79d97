/**
 * A Fargate warm worker's assignment source: SQS mocked (exact ReceiveMessage/DeleteMessage
 * requests), the pool table and the runs table in dynalite.
 */
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { createJsonLogger } from "../../lib/log";
import { Persistence } from "../../lib/persistence/persistence";
import { WarmPoolRepository } from "../../lib/persistence/warm-pools";
import { createSqsAssignmentSource, parseAssignmentBody } from "../../lib/worker/sqs-assignments";
import type { AssignmentSource } from "../../lib/worker/warm";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { createPoolTable } from "../support/warm-pool-table";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/dagy-develop-warm-small";
const sqsMock = mockClient(SQSClient);
let env: TestEnv;
let poolTable: string;
let pools: WarmPoolRepository;
let lines: Record<string, unknown>[];

beforeAll(async () => {
  env = await startTestEnv();
  poolTable = await createPoolTable(env);
  pools = new WarmPoolRepository(env.clients.doc, poolTable);
});
afterAll(() => env.close());
beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(DeleteMessageCommand).resolves({});
  lines = [];
});

function body(runId: string, orgId = "org-1", extraEnv: Record<string, unknown> = {}): string {
  return JSON.stringify({
    v: 1,
    run_id: runId,
    org_id: orgId,
    env: {
      DAGY_RUN_ID: runId,
      DAGY_ORG_ID: orgId,
      DAGY_FLOW_NAME: "hello",
      DAGY_PARAMETERS: "{}",
      AWS_REGION: "us-east-1",
      OUTPUT_BUCKET: "my-bucket",
      ...extraEnv,
    },
  });
}

function message(id: string, text: string): Message {
  return { MessageId: id, ReceiptHandle: `rh-${id}`, Body: text };
}

function source(pool = "small"): AssignmentSource {
  return createSqsAssignmentSource(
    {
      DAGY_WARM_QUEUE_URL: QUEUE,
      DAGY_WARM_POOL: pool,
      DAGY_WARM_POOL_TABLE: poolTable,
      AWS_REGION: "us-east-1",
    },
    {
      doc: env.clients.doc,
      sqs: new SQSClient({ region: "us-east-1" }),
      logger: createJsonLogger({}, (line) =>
        lines.push(JSON.parse(line) as Record<string, unknown>),
      ),
      pause: async () => {},
    },
  );
}

describe("SQS assignment source", () => {
  test("long-polls one message at a time and hands over the run's environment; ack deletes it", async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [] })
      .resolves({ Messages: [message("m1", body("run-1"))] });
    const assignment = await source().next(new AbortController().signal);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE,
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: 20,
    });
    expect(assignment?.env).toEqual({
      DAGY_RUN_ID: "run-1",
      DAGY_ORG_ID: "org-1",
      DAGY_FLOW_NAME: "hello",
      DAGY_PARAMETERS: "{}",
      AWS_REGION: "us-east-1",
      OUTPUT_BUCKET: "my-bucket",
    });
    expect(sqsMock.commandCalls(DeleteMessageCommand)).toHaveLength(0);
    await assignment!.ack();
    expect(sqsMock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: QUEUE, ReceiptHandle: "rh-m1" },
    ]);
  });

  const hostile: [string, string][] = [
    ["not JSON", "{nope"],
    ["an array", "[]"],
    ["an unknown version", body("run-1").replace('"v":1', '"v":2')],
    ["no version", JSON.stringify({ run_id: "run-1", org_id: "org-1", env: {} })],
    ["a missing run_id", JSON.stringify({ v: 1, org_id: "org-1", env: { DAGY_ORG_ID: "org-1" } })],
    ["a run_id with a slash", body("../run-1")],
    ["an extra field", JSON.stringify({ ...JSON.parse(body("run-1")), command: "rm -rf /" })],
    ["env not an object", JSON.stringify({ v: 1, run_id: "run-1", org_id: "org-1", env: "x" })],
    ["a non-string env value", body("run-1", "org-1", { DAGY_MAX_PARALLELISM: 4 })],
    ["NODE_OPTIONS (loads code)", body("run-1", "org-1", { NODE_OPTIONS: "--import=data:x" })],
    [
      "a DAGY_ name the worker does not take",
      body("run-1", "org-1", { DAGY_DYNAMODB_ENDPOINT: "http://evil" }),
    ],
    ["a lower-case name", body("run-1", "org-1", { path: "/tmp" })],
    ["a control character in a value", body("run-1", "org-1", { OUTPUT_BUCKET: "a\u0000b" })],
    ["env naming another run", body("run-1", "org-1", { DAGY_RUN_ID: "run-2" })],
    ["env naming another org", body("run-1", "org-1", { DAGY_ORG_ID: "org-2" })],
  ];
  test.each(hostile)("%s: refused, logged and deleted, never handed over", async (_name, text) => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [message("bad", text)] })
      .resolves({ Messages: [message("good", body("run-9"))] });
    const assignment = await source().next(new AbortController().signal);
    // The worker gets the next, valid run instead.
    expect(assignment?.env.DAGY_RUN_ID).toBe("run-9");
    expect(sqsMock.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: QUEUE, ReceiptHandle: "rh-bad" },
    ]);
    expect(lines).toContainEqual(
      expect.objectContaining({ event_type: "assignment_refused", message_id: "bad" }),
    );
  });

  test("a refusal names the field at fault", () => {
    expect(parseAssignmentBody(body("run-1", "org-1", { NODE_OPTIONS: "x" }))).toMatch(
      /^env\.NODE_OPTIONS: NODE_OPTIONS is reserved/,
    );
    expect(parseAssignmentBody(body("run-1").replace('"v":1', '"v":7'))).toBe(
      "v: unsupported version 7",
    );
  });

  test("SIGTERM while waiting: next() ends with no assignment", async () => {
    const controller = new AbortController();
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
      controller.abort();
      throw Object.assign(new Error("Request aborted"), { name: "AbortError" });
    });
    await expect(source().next(controller.signal)).resolves.toBeUndefined();
  });

  test("a failed receive is retried, not fatal", async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .rejectsOnce(new Error("socket hang up"))
      .resolves({ Messages: [message("m1", body("run-1"))] });
    const assignment = await source().next(new AbortController().signal);
    expect(assignment?.env.DAGY_RUN_ID).toBe("run-1");
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(2);
  });

  test("ready() counts the worker idle in its pool, leave() takes it off (never below zero)", async () => {
    const s = source("pool-ready");
    await s.ready();
    await s.ready();
    expect(await pools.idle("pool-ready")).toBe(2);
    await s.leave();
    await s.leave();
    await s.leave();
    expect(await pools.idle("pool-ready")).toBe(0);
  });

  test("missing configuration names the variable", () => {
    expect(() =>
      createSqsAssignmentSource(
        { DAGY_WARM_POOL: "small", DAGY_WARM_POOL_TABLE: poolTable },
        { doc: env.clients.doc },
      ),
    ).toThrow(/DAGY_WARM_QUEUE_URL is required/);
    expect(() =>
      createSqsAssignmentSource(
        { DAGY_WARM_QUEUE_URL: QUEUE, DAGY_WARM_POOL: "a/b", DAGY_WARM_POOL_TABLE: poolTable },
        { doc: env.clients.doc },
      ),
    ).toThrow(/DAGY_WARM_POOL must be/);
  });
});

describe("duplicate delivery", () => {
  test("the same message delivered twice: the first claim wins, the second fails and is acked, one run", async () => {
    const persistence = new Persistence(env.clients.doc, env.tables);
    const runId = `run-dup-${Date.now()}`;
    await persistence.runs.create({
      run_id: runId,
      org_id: "org-1",
      flow_name: "hello",
      flow_version: "1.0.0",
      status: "QUEUED",
      created_at: new Date().toISOString(),
    } as Parameters<typeof persistence.runs.create>[0]);
    // SQS at-least-once: the same message reaches two workers (visibility timeout, or a
    // duplicate on the server side).
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [message("m1", body(runId))] });
    const claims: boolean[] = [];
    for (const worker of [source(), source()]) {
      const assignment = await worker.next(new AbortController().signal);
      const claimed = await persistence.runs.transition(
        assignment!.env.DAGY_RUN_ID!,
        "QUEUED",
        "RUNNING",
        { task_arn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/w${claims.length}` },
      );
      claims.push(claimed !== undefined);
      await assignment!.ack();
    }
    expect(claims).toEqual([true, false]);
    const run = await persistence.runs.get(runId);
    expect(run?.status).toBe("RUNNING");
    expect(run?.task_arn).toBe("arn:aws:ecs:us-east-1:123456789012:task/dagy/w0");
    expect(sqsMock.commandCalls(DeleteMessageCommand)).toHaveLength(2);
  });
});
