/**
 * What an isolated map's poll of its children costs, and that reading less loses no child.
 *
 * - At 10,000 children on the runs table's `by_parent` index (local DynamoDB, dynalite, which
 *   reports consumed capacity as DynamoDB does): a poll that reads every child against one that
 *   starts at the oldest child not yet joined (ChildReadWindow).
 * - The window through runIsolatedMap: children that show up late (index lag) or finish out of
 *   order are all joined, and polls start later only once every launched child was seen.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDynamoDbClient, documentClient } from "../../lib/aws/dynamodb";
import type { RunRecord } from "../../lib/persistence/records";
import { RunRepository } from "../../lib/persistence/runs";
import { ChildReadWindow } from "../../lib/worker/child-window";
import {
  mapOutputsKey,
  runIsolatedMap,
  type ChildLaunch,
  type ChildLaunchOutcome,
} from "../../lib/worker/isolated-map";
import type { IsolatedItemOutcome } from "dagy";
import { startTestEnv, type TestEnv } from "../support/local-servers";

const ORG = "acme";
const PARENT = "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";
const CHILDREN = 10_000;
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const createdAt = (i: number) => new Date(T0 + i * 50).toISOString();

/** A child run record as the launcher writes one (parameters copied from the parent). */
function childRecord(i: number): RunRecord {
  return {
    run_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    org_id: ORG,
    flow_name: "fan_out",
    flow_version: "1.0.0",
    status: "SUCCEEDED",
    environment: "production",
    correlation_id: `req-1:${i}`,
    trigger_source: "map",
    triggered_by: "arn:aws:sts::123456789012:assumed-role/dagy-worker/0f2b6c1d9e8a4b7c",
    parent_run_id: PARENT,
    map_task: "square",
    map_items: `${i}-${i}`,
    parameters: { source: "s3://data/input/2026-01-01/", shards: 10_000 },
    artifact_s3_uri: "s3://artifacts/flows/fan_out/1.0.0/artifact.zip",
    artifact_sha256: "a".repeat(64),
    dep_package_uris: [],
    secret_names: [],
    created_at: createdAt(i),
    updated_at: createdAt(i),
    started_at: createdAt(i),
    completed_at: createdAt(i + 40),
    task_arn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/${String(i).padStart(32, "0")}`,
    task_states: { square: { status: "SUCCEEDED", attempts: 1 } as never },
  };
}

describe("a poll of 10,000 children (by_parent on local DynamoDB)", () => {
  let env: TestEnv;
  let dynamodb: DynamoDBClient;
  let doc: DynamoDBDocumentClient;
  let runs: RunRepository;
  const cost = { queries: 0, capacity: 0 };

  beforeAll(async () => {
    env = await startTestEnv();
    dynamodb = createDynamoDbClient(env.endpoints);
    // Every Query reports what it consumed.
    dynamodb.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as Record<string, unknown>;
        const isQuery = "KeyConditionExpression" in input;
        if (isQuery) input.ReturnConsumedCapacity = "TOTAL";
        const result = await next(args);
        if (isQuery) {
          const output = result.output as { ConsumedCapacity?: { CapacityUnits?: number } };
          cost.queries++;
          cost.capacity += output.ConsumedCapacity?.CapacityUnits ?? 0;
        }
        return result;
      },
      { step: "initialize", name: "countQueryCapacity" },
    );
    doc = documentClient(dynamodb);
    runs = new RunRepository(doc, env.tables.runs);
    // Written straight to the table, 25 at a time: what 10,000 launches would have left.
    const items = Array.from({ length: CHILDREN }, (_, i) => childRecord(i));
    for (let i = 0; i < items.length; i += 25 * 8) {
      await Promise.all(
        Array.from({ length: 8 }, (_, k) => items.slice(i + k * 25, i + (k + 1) * 25))
          .filter((chunk) => chunk.length > 0)
          .map((chunk) =>
            doc.send(
              new BatchWriteCommand({
                RequestItems: {
                  [env.tables.runs]: chunk.map((item) => ({ PutRequest: { Item: item } })),
                },
              }),
            ),
          ),
      );
    }
  }, 120_000);

  afterAll(async () => {
    dynamodb.destroy();
    await env.close();
  });

  /** One poll as the parent makes it: every page of its children from `createdFrom`. */
  async function poll(
    createdFrom?: string,
  ): Promise<{ queries: number; capacity: number; items: number }> {
    cost.queries = 0;
    cost.capacity = 0;
    let items = 0;
    let nextToken: string | undefined;
    do {
      const page = await runs.list({
        orgId: ORG,
        parentRunId: PARENT,
        limit: 100,
        ...(nextToken !== undefined ? { nextToken } : {}),
        ...(createdFrom !== undefined ? { createdFrom } : {}),
      });
      items += page.items.length;
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    return { queries: cost.queries, capacity: Math.round(cost.capacity * 10) / 10, items };
  }

  it("reads only from the oldest child not joined: 9,000 of 10,000 joined in order costs a tenth", async () => {
    const ids = Array.from({ length: CHILDREN }, (_, i) => childRecord(i).run_id);
    const launched = new Set(ids);
    const done = new Set(ids.slice(0, 9_000));
    const window = new ChildReadWindow(launched, done);
    const full = await poll(window.createdFrom);
    expect(full.items).toBe(CHILDREN);
    for (let i = 0; i < CHILDREN; i++) window.seen({ run_id: ids[i]!, created_at: createdAt(i) });
    window.advance(true);
    expect(window.createdFrom).toBe(createdAt(9_000));
    const windowed = await poll(window.createdFrom);
    expect(windowed.items).toBe(1_000);
    expect(windowed.queries * 10).toBeLessThanOrEqual(full.queries + 10);
    expect(windowed.capacity * 9).toBeLessThan(full.capacity);
    // One straggler launched early holds the window back: then a poll costs what it did.
    const straggler = new Set(ids.slice(0, 9_000));
    straggler.delete(ids[100]!);
    const held = new ChildReadWindow(launched, straggler);
    for (let i = 0; i < CHILDREN; i++) held.seen({ run_id: ids[i]!, created_at: createdAt(i) });
    held.advance(true);
    const worst = await poll(held.createdFrom);
    expect(worst.items).toBe(CHILDREN - 100);
    // Figures for the README and the report.
    console.info(
      `poll of ${CHILDREN} children: all ${JSON.stringify(full)}; ` +
        `from the oldest unjoined (9,000 joined) ${JSON.stringify(windowed)}; ` +
        `with a straggler at #100 ${JSON.stringify(worst)}`,
    );
  });

  it("refuses createdFrom without a parent, or when it is not a time, naming the field", async () => {
    await expect(runs.list({ orgId: ORG, createdFrom: createdAt(1) })).rejects.toThrow(
      "createdFrom: only with parentRunId",
    );
    await expect(
      runs.list({ orgId: ORG, parentRunId: PARENT, createdFrom: "yesterday" }),
    ).rejects.toThrow("createdFrom: must be an ISO timestamp");
  });
});

describe("runIsolatedMap reads from the oldest child not joined, and loses none", () => {
  /** Children that finish out of order, one that shows up in the index two polls late. */
  class LaggyPlatform {
    readonly runs: RunRecord[] = [];
    readonly objects = new Map<string, string>();
    readonly froms: Array<string | undefined> = [];
    private polls = 0;

    launch(taskId: string, children: readonly ChildLaunch[]): Promise<ChildLaunchOutcome[]> {
      return Promise.resolve(
        children.map((c) => {
          const runId = `child-${c.index}`;
          this.runs.push({
            run_id: runId,
            org_id: ORG,
            status: "RUNNING",
            map_task: taskId,
            map_items: `${c.first}-${c.last}`,
            created_at: createdAt(c.index),
          } as RunRecord);
          this.objects.set(
            `s3://artifacts/${mapOutputsKey(ORG, runId)}`,
            JSON.stringify({ first: c.first, outputs: [c.first * 10], errors: {} }),
          );
          return { runId };
        }),
      );
    }

    /** Poll k finishes child k and child (k + 3), and hides child 1 from the first two polls. */
    list(createdFrom?: string): Promise<{ items: RunRecord[] }> {
      this.froms.push(createdFrom);
      const k = this.polls++;
      for (const i of [k, k + 3]) {
        const run = this.runs[i];
        if (run) run.status = "SUCCEEDED";
      }
      const visible = this.runs.filter(
        (r) =>
          (k >= 2 || r.run_id !== "child-1") &&
          (createdFrom === undefined || r.created_at >= createdFrom),
      );
      return Promise.resolve({ items: visible.map((r) => ({ ...r })) });
    }
  }

  it("joins every item, and starts polls later only once all children were seen", async () => {
    const platform = new LaggyPlatform();
    const outcomes = new Map<number, IsolatedItemOutcome>();
    await runIsolatedMap(
      {
        api: { launch: (t, c) => platform.launch(t, c), cancel: () => Promise.resolve() },
        children: { listChildren: (_p, _o, _t, from) => platform.list(from) },
        store: {
          get: (uri) => Promise.resolve(Buffer.from(platform.objects.get(uri) ?? "")),
          put: (uri, body) => Promise.resolve(void platform.objects.set(uri, String(body))),
        },
        bucket: "artifacts",
        orgId: ORG,
        runId: PARENT,
        sleep: () => Promise.resolve(),
        log: () => undefined,
        options: { launchBatchSize: 100, launchIntervalMs: 0, pollMs: 1, maxPollMs: 1 },
      },
      {
        taskId: "square",
        spec: { over: { length: 8 }, isolate: true },
        items: [0, 1, 2, 3, 4, 5, 6, 7],
        signal: new AbortController().signal,
        onItem: (i, outcome) => outcomes.set(i, outcome),
      },
    );
    expect([...outcomes.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...outcomes.values()].every((o) => o.ok)).toBe(true);
    expect(outcomes.get(5)).toEqual({ ok: true, output: 50 });
    // Child 1 was unseen for two polls: those, and the one that first saw it, read everything.
    expect(platform.froms.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    // Then polls start at the oldest child not joined, never moving back.
    const later = platform.froms.slice(3);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((from) => from !== undefined)).toBe(true);
    expect([...later].sort()).toEqual(later);
  });
});
