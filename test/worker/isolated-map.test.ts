/**
 * The parent's side of an isolated map with a fake platform: launches paced in batches with
 * backoff on throttling, children of `itemsPerChild` items, outputs joined in order, and the
 * exact POST /runs/batch body the HTTP client sends.
 */
import { WORKLOAD_PROFILE_NAMES } from "../../lib/launcher/fargate";
import type { RunRecord } from "../../lib/persistence/records";
import {
  dag,
  MAP_WORKLOAD_PROFILES,
  RunCancelledError,
  task,
  type IsolatedItemOutcome,
  type MapSpec,
} from "dagy";
import {
  HttpChildRunApi,
  mapInputKey,
  mapOutputsKey,
  runIsolatedMap,
  type ChildLaunch,
  type ChildLaunchOutcome,
  type ChildRunApi,
} from "../../lib/worker/isolated-map";

const BUCKET = "artifacts";
const ORG = "acme";
const PARENT = "parent-1";

/** A platform in memory: launches become runs that finish at the next listing. */
class FakePlatform implements ChildRunApi {
  readonly objects = new Map<string, string>();
  readonly runs: RunRecord[] = [];
  readonly launchCalls: ChildLaunch[][] = [];
  readonly cancelled: string[] = [];
  /** Outcomes forced for the next launch calls (then: success). */
  throttleNext = 0;

  async launch(
    taskId: string,
    children: readonly ChildLaunch[],
    options: { workloadProfile?: string } = {},
  ): Promise<ChildLaunchOutcome[]> {
    this.launchCalls.push([...children]);
    if (this.throttleNext > 0) {
      this.throttleNext--;
      return children.map(() => ({ error: "Rate exceeded", retryable: true }));
    }
    return children.map((c) => {
      const runId = `child-${c.index}`;
      this.runs.push({
        run_id: runId,
        org_id: ORG,
        status: "RUNNING",
        map_task: taskId,
        map_items: `${c.first}-${c.last}`,
        workload_profile: options.workloadProfile,
      } as RunRecord);
      return { runId };
    });
  }

  async cancel(runId: string): Promise<void> {
    this.cancelled.push(runId);
  }

  /** Each listing finishes the running children: item i gives i * 10, item 2 fails. */
  async listChildren(): Promise<{ items: RunRecord[] }> {
    const input = JSON.parse(
      this.objects.get(`s3://${BUCKET}/${mapInputKey(ORG, PARENT, "sq")}`)!,
    ) as number[];
    for (const run of this.runs) {
      if (run.status !== "RUNNING") continue;
      const [first, last] = run.map_items!.split("-").map(Number) as [number, number];
      const errors: Record<string, string> = {};
      const outputs: unknown[] = [];
      for (let i = first; i <= last; i++) {
        if (input[i] === 2) errors[String(i)] = "two is refused";
        outputs.push(input[i]! * 10);
      }
      run.status = Object.keys(errors).length > 0 ? "FAILED" : "SUCCEEDED";
      this.objects.set(
        `s3://${BUCKET}/${mapOutputsKey(ORG, run.run_id)}`,
        JSON.stringify({ first, outputs, errors }),
      );
    }
    return { items: [...this.runs] };
  }
}

async function run(
  platform: FakePlatform,
  items: number[],
  spec: MapSpec,
  options = {},
): Promise<{ outcomes: Map<number, IsolatedItemOutcome>; sleeps: number[] }> {
  const outcomes = new Map<number, IsolatedItemOutcome>();
  const sleeps: number[] = [];
  await runIsolatedMap(
    {
      api: platform,
      children: { listChildren: () => platform.listChildren() },
      store: {
        get: async (uri) => Buffer.from(platform.objects.get(uri) ?? ""),
        put: async (uri, body) => void platform.objects.set(uri, String(body)),
      },
      bucket: BUCKET,
      orgId: ORG,
      runId: PARENT,
      sleep: async (ms) => void sleeps.push(ms),
      log: () => undefined,
      options,
    },
    {
      taskId: "sq",
      spec,
      items,
      signal: new AbortController().signal,
      onItem: (i, outcome) => outcomes.set(i, outcome),
    },
  );
  return { outcomes, sleeps };
}

describe("runIsolatedMap", () => {
  it("launches in batches, backs off when throttled, and reports every item", async () => {
    const platform = new FakePlatform();
    platform.throttleNext = 1;
    const items = [0, 1, 2, 3, 4, 5, 6];
    const { outcomes, sleeps } = await run(
      platform,
      items,
      { over: { length: 7 }, isolate: true },
      { launchBatchSize: 3, launchIntervalMs: 1000, pollMs: 1, maxPollMs: 1 },
    );
    // First batch throttled and queued again behind the rest.
    expect(platform.launchCalls.map((c) => c.map((r) => r.index))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 0, 1],
      [2],
    ]);
    // The pause doubled after the throttled batch, then returned to the interval.
    // (Polls sleep 1 ms here; launches' pauses are the rest.)
    expect(sleeps.filter((ms) => ms > 1)).toEqual([2000, 1000, 1000]);
    expect([...outcomes.keys()].sort()).toEqual(items);
    expect(outcomes.get(6)).toEqual({ ok: true, output: 60 });
    expect(outcomes.get(2)).toEqual({ ok: false, error: "two is refused" });
  });

  it("gives each child itemsPerChild items and the map's workload profile", async () => {
    const platform = new FakePlatform();
    const { outcomes } = await run(platform, [0, 1, 2, 3, 4], {
      over: { length: 5 },
      isolate: true,
      items_per_child: 2,
      workload_profile: "large",
    });
    expect(platform.runs.map((r) => [r.map_items, r.workload_profile])).toEqual([
      ["0-1", "large"],
      ["2-3", "large"],
      ["4-4", "large"],
    ]);
    expect([...outcomes.entries()].sort(([a], [b]) => a - b)).toEqual([
      [0, { ok: true, output: 0 }],
      [1, { ok: true, output: 10 }],
      [2, { ok: false, error: "two is refused" }],
      [3, { ok: true, output: 30 }],
      [4, { ok: true, output: 40 }],
    ]);
  });

  it("fails the items of a child that could not be launched after its attempts", async () => {
    const platform = new FakePlatform();
    platform.throttleNext = 100;
    const { outcomes } = await run(
      platform,
      [0, 1],
      { over: { length: 2 }, isolate: true },
      { maxLaunchAttempts: 2 },
    );
    expect(platform.launchCalls).toHaveLength(2);
    expect(outcomes.get(0)).toEqual({
      ok: false,
      error: 'map "sq": child 0 was not launched: Rate exceeded',
    });
  });
});

describe("runIsolatedMap stopping", () => {
  async function stopWith(reason: Error): Promise<string[]> {
    const platform = new FakePlatform();
    const controller = new AbortController();
    await runIsolatedMap(
      {
        api: platform,
        // Children never finish here: the run stops while they are active.
        children: { listChildren: async () => ({ items: [...platform.runs] }) },
        store: { get: async () => Buffer.from(""), put: async () => undefined },
        bucket: BUCKET,
        orgId: ORG,
        runId: PARENT,
        sleep: async () => controller.abort(reason),
        log: () => undefined,
      },
      {
        taskId: "sq",
        spec: { over: { length: 2 }, isolate: true },
        items: [0, 1],
        signal: controller.signal,
        onItem: () => undefined,
      },
    );
    return platform.cancelled;
  }

  it("cancels its active children when the map or the run failed", async () => {
    expect(await stopWith(new Error('map "sq": 1 of 2 items failed'))).toEqual([
      "child-0",
      "child-1",
    ]);
  });

  it("leaves them when the run was cancelled or its worker stopped (a relaunch resumes them)", async () => {
    expect(await stopWith(new RunCancelledError("worker received SIGTERM"))).toEqual([]);
  });
});

describe("HttpChildRunApi", () => {
  it("POSTs one /runs/batch naming parent, task, items, correlation and idempotency per child", async () => {
    const requests: Array<{ url: string; body: unknown }> = [];
    const api = new HttpChildRunApi({
      apiUrl: "http://127.0.0.1:8787",
      orgId: ORG,
      flowName: "fan",
      flowVersion: "1.2.0",
      environment: "",
      parentRunId: PARENT,
      correlationId: "req-9",
      parameters: { n: 3 },
      fetch: async (input) => {
        const request = input as Request;
        requests.push({ url: request.url, body: JSON.parse(await request.text()) as unknown });
        return new Response(
          JSON.stringify({
            results: [
              { run_id: "c0", success: true },
              { run_id: null, success: false, error: "ThrottlingException: Rate exceeded" },
            ],
          }),
          { status: 200 },
        );
      },
    });
    const outcomes = await api.launch("sq", [
      { index: 0, first: 0, last: 1 },
      { index: 1, first: 2, last: 3 },
    ]);
    expect(outcomes).toEqual([
      { runId: "c0" },
      { error: "ThrottlingException: Rate exceeded", retryable: true },
    ]);
    expect(requests).toEqual([
      {
        url: "http://127.0.0.1:8787/runs/batch",
        body: {
          org_id: ORG,
          requests: [0, 1].map((i) => ({
            flow_name: "fan",
            flow_version: "1.2.0",
            parameters: { n: 3 },
            parent_run_id: PARENT,
            map_task: "sq",
            map_items: i === 0 ? "0-1" : "2-3",
            correlation_id: `req-9:${i}`,
            idempotency_key: `map:${PARENT}:sq:${i}`,
          })),
        },
      },
    ]);
  });
});

describe("map options for isolation", () => {
  const square = task("square", (n: number) => n * n);
  const spec = (options: object) =>
    dag("opts", {}, () => {
      square.map([1, 2], options);
    }).toSpec().tasks[0]!.map;

  it("itemsPerChild and workloadProfile imply isolate and are recorded in flow_spec", () => {
    expect(spec({ itemsPerChild: 10, workloadProfile: "large" })).toEqual({
      over: { length: 2 },
      isolate: true,
      items_per_child: 10,
      workload_profile: "large",
    });
  });

  it("refuses an unknown profile, a bad itemsPerChild, and either with isolate: false", () => {
    expect(() => spec({ workloadProfile: "huge" })).toThrow(/workloadProfile must be one of small/);
    expect(() => spec({ itemsPerChild: 0 })).toThrow(/itemsPerChild must be an integer >= 1/);
    expect(() => spec({ isolate: false, itemsPerChild: 2 })).toThrow(/drop isolate: false/);
  });

  it("offers exactly the launcher's workload profiles", () => {
    expect([...MAP_WORKLOAD_PROFILES]).toEqual(WORKLOAD_PROFILE_NAMES);
  });
});
