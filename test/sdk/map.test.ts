/**
 * `task.map(list)`: dynamic fan-out. One node in the DAG and in flow_spec.json; at run time one
 * task instance per item (`square[7]`), with its own retries and events, and counts (not one
 * state per item) in the run's task states.
 */
import {
  dag,
  DagDefinitionError,
  MAX_MAP_FAILURES_LISTED,
  runDag,
  task,
  type ExecutorEvent,
  type TaskState,
} from "dagy";
import { compactTaskState } from "../../lib/persistence/runs";
import { TaskStateRecorder } from "../../lib/worker/task-states";
import { eventRecorder, gate, summarize, until } from "./helpers";

const discover = task("discover", (n: number) => Array.from({ length: n }, (_, i) => i));
const square = task("square", (n: number) => n * n);
const total = task("total", (xs: Array<number | null>) =>
  xs.reduce<number>((sum, x) => sum + (x ?? 0), 0),
);

describe("task.map", () => {
  test("runs the task once per item of an upstream task's list, outputs in list order", async () => {
    // Items finish in reverse order: each waits for the next one to have finished.
    const done = new Map<number, () => void>();
    const finished = (i: number) => new Promise<void>((resolve) => done.set(i, resolve));
    const waits = new Map<number, Promise<void>>();
    for (let i = 0; i < 5; i++) waits.set(i, finished(i));
    const slow = task("slow", async (n: number) => {
      if (n < 4) await waits.get(n + 1);
      done.get(n)!();
      return n * 10;
    });
    const d = dag("map_order", {}, () => {
      const items = discover(5);
      total(slow.map(items));
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent, maxParallelism: 8 });

    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs["slow"]).toEqual([0, 10, 20, 30, 40]);
    expect(result.outputs["total"]).toBe(100);
    const finishedItems = events
      .filter((e) => e.event_type === "task_succeeded" && e.map_task === "slow")
      .map((e) => e.task_id);
    expect(finishedItems).toEqual(["slow[4]", "slow[3]", "slow[2]", "slow[1]", "slow[0]"]);
  });

  test("emits per-item events and keeps counts, not per-item states", async () => {
    const d = dag("map_events", {}, () => {
      square.map(discover(3));
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent, maxParallelism: 1 });

    expect(summarize(events)).toEqual([
      "run_started",
      "task_started:discover",
      "task_succeeded:discover",
      "task_started:square",
      "task_started:square[0]",
      "task_succeeded:square[0]",
      "task_started:square[1]",
      "task_succeeded:square[1]",
      "task_started:square[2]",
      "task_succeeded:square[2]",
      "task_succeeded:square",
      "run_succeeded",
    ]);
    const item = events.find((e) => e.task_id === "square[1]")!;
    expect(item).toMatchObject({ map_task: "square", map_index: 1, attempt: 1 });
    expect(Object.keys(result.tasks).sort()).toEqual(["discover", "square"]);
    expect(result.tasks["square"]).toMatchObject({
      status: "SUCCEEDED",
      map: {
        total: 3,
        pending: 0,
        running: 0,
        succeeded: 3,
        failed: 0,
        skipped: 0,
        cancelled: 0,
        failures: [],
      },
    });
    expect(events.find((e) => e.task_id === "square")!.map).toMatchObject({
      total: 3,
      pending: 3,
    });
  });

  test("maps over a list written in the flow, whose items may be references", async () => {
    const d = dag("map_literal", {}, () => {
      const four = square(2);
      square.map([1, four, 3], { id: "squares" });
    });

    const result = await runDag(d);

    expect(result.outputs["squares"]).toEqual([1, 16, 9]);
    expect(d.toSpec().tasks.find((t) => t.id === "squares")).toMatchObject({
      upstream: ["square"],
      input: [1, { $ref: "square" }, 3],
      map: { over: { length: 3 } },
    });
  });

  test("flow_spec.json holds the mapped task as one node with its map marker", () => {
    const d = dag("map_spec", {}, () => {
      const items = discover(3);
      const squares = square.map(items, {
        concurrency: 2,
        isolate: true,
        toleratedFailurePercentage: 10,
        retries: 2,
      });
      total(squares);
    });

    const spec = d.toSpec();

    expect(spec.tasks.map((t) => t.id)).toEqual(["discover", "square", "total"]);
    expect(spec.tasks[1]).toMatchObject({
      id: "square",
      upstream: ["discover"],
      input: { $ref: "discover" },
      options: { retries: 2 },
      map: {
        over: { task: "discover" },
        concurrency: 2,
        isolate: true,
        tolerated_failure_percentage: 10,
      },
    });
    expect(spec.edges).toEqual([
      ["discover", "square"],
      ["square", "total"],
    ]);
    expect(d.toMermaid()).toContain('["square (map)"]');
  });

  test("retries each item on its own", async () => {
    const failedOnce = new Set<number>();
    const flaky = task("flaky", (n: number, ctx) => {
      if (n === 1 && !failedOnce.has(n)) {
        failedOnce.add(n);
        throw new Error(`item ${n} failed on attempt ${ctx.attempt}`);
      }
      return `${ctx.taskId}@${ctx.attempt}`;
    });
    const d = dag("map_retries", {}, () => {
      flaky.map(discover(3), { retries: 2, retryDelayMs: 0 });
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent });

    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs["flaky"]).toEqual(["flaky[0]@1", "flaky[1]@2", "flaky[2]@1"]);
    const retrying = events.filter((e) => e.event_type === "task_retrying");
    expect(retrying.map((e) => [e.task_id, e.attempt, e.error])).toEqual([
      ["flaky[1]", 1, "item 1 failed on attempt 1"],
    ]);
    expect(result.tasks["flaky"]!.map).toMatchObject({ succeeded: 3, failed: 0 });
  });

  test("each item has its own timeout; a timed-out item is retried", async () => {
    const hung = new Set<number>();
    const sometimesHangs = task("sometimes_hangs", (n: number) => {
      if (n === 1 && !hung.has(n)) {
        hung.add(n);
        return new Promise<number>(() => {}); // ignores its signal: only the timeout ends it
      }
      return n;
    });
    const d = dag("map_timeout", {}, () => {
      sometimesHangs.map(discover(3), { timeoutMs: 20, retries: 1, retryDelayMs: 0 });
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent });

    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs["sometimes_hangs"]).toEqual([0, 1, 2]);
    const retrying = events.find((e) => e.event_type === "task_retrying")!;
    expect(retrying).toMatchObject({
      task_id: "sometimes_hangs[1]",
      error: 'task "sometimes_hangs[1]" timed out after 20 ms',
    });
  });

  test("an item that fails for good fails the map and the run (no tolerance by default)", async () => {
    const picky = task("picky", (n: number) => {
      if (n === 2) throw new Error("two is not allowed");
      return n;
    });
    const d = dag("map_fail", {}, () => {
      total(picky.map(discover(4), { concurrency: 1 }));
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent });

    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("picky");
    expect(result.error?.message).toBe(
      'map "picky": 1 of 4 items failed, more than the 0 tolerated; first: picky[2]: two is not allowed',
    );
    expect(result.tasks["picky"]).toMatchObject({
      status: "FAILED",
      map: {
        total: 4,
        succeeded: 2,
        failed: 1,
        skipped: 1,
        pending: 0,
        running: 0,
        failures: [{ index: 2, attempts: 1, error: "two is not allowed" }],
      },
    });
    expect(result.tasks["total"]!.status).toBe("SKIPPED");
    expect(summarize(events)).toContain("task_failed:picky[2]");
    expect(summarize(events)).not.toContain("task_started:picky[3]");
  });

  describe("failure tolerance", () => {
    // Items 0, 3, 6, 9 fail: 4 of 10.
    const sometimes = task("sometimes", (n: number) => {
      if (n % 3 === 0) throw new Error(`bad ${n}`);
      return n;
    });
    const run = (options: {
      toleratedFailureCount?: number;
      toleratedFailurePercentage?: number;
    }) =>
      runDag(
        dag("map_tolerance", {}, () => {
          total(sometimes.map(discover(10), options));
        }),
      );

    test("within a tolerated count the map succeeds and failed slots are null", async () => {
      const result = await run({ toleratedFailureCount: 4 });

      expect(result.status).toBe("SUCCEEDED");
      expect(result.outputs["sometimes"]).toEqual([null, 1, 2, null, 4, 5, null, 7, 8, null]);
      expect(result.outputs["total"]).toBe(1 + 2 + 4 + 5 + 7 + 8);
      const map = result.tasks["sometimes"]!.map!;
      expect(map).toMatchObject({ total: 10, succeeded: 6, failed: 4 });
      expect(map.failures.map((f) => f.index).sort()).toEqual([0, 3, 6, 9]);
    });

    test("beyond a tolerated count the map fails", async () => {
      const result = await run({ toleratedFailureCount: 3 });

      expect(result.status).toBe("FAILED");
      expect(result.failedTask).toBe("sometimes");
      expect(result.error?.message).toMatch(/4 of 10 items failed, more than the 3 tolerated/);
    });

    test("within a tolerated percentage the map succeeds", async () => {
      const result = await run({ toleratedFailurePercentage: 40 });

      expect(result.status).toBe("SUCCEEDED");
      expect(result.tasks["sometimes"]!.map).toMatchObject({ succeeded: 6, failed: 4 });
    });

    test("beyond a tolerated percentage the map fails", async () => {
      const result = await run({ toleratedFailurePercentage: 39.9 });

      expect(result.status).toBe("FAILED");
      expect(result.error?.message).toMatch(/more than the 3 tolerated/);
    });

    test("with both, the map fails when either is exceeded", async () => {
      const result = await run({ toleratedFailureCount: 10, toleratedFailurePercentage: 30 });

      expect(result.status).toBe("FAILED");
    });
  });

  test("an empty list yields [] and downstream tasks run", async () => {
    const d = dag("map_empty", {}, () => {
      total(square.map(discover(0)));
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent });

    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs["square"]).toEqual([]);
    expect(result.outputs["total"]).toBe(0);
    expect(result.tasks["square"]!.map).toMatchObject({ total: 0, succeeded: 0 });
    expect(summarize(events).filter((e) => e.includes("square["))).toEqual([]);
  });

  test("a map whose list comes from a failed task is skipped and the run names the upstream", async () => {
    const broken = task("broken", (): number[] => {
      throw new Error("no shards today");
    });
    const d = dag("map_upstream_failed", {}, () => {
      total(square.map(broken()));
    });
    const { events, onEvent } = eventRecorder();

    const result = await runDag(d, { onEvent });

    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("broken");
    expect(result.tasks["square"]!.status).toBe("SKIPPED");
    expect(result.tasks["square"]!.map).toBeUndefined();
    const skipped = events.find((e) => e.event_type === "task_skipped" && e.task_id === "square");
    expect(skipped?.message).toBe('upstream task "broken" failed');
    expect(summarize(events).some((e) => e.includes("square["))).toBe(false);
  });

  test("a list that is not an array fails the map, naming where it came from", async () => {
    const notAList = task("not_a_list", () => ({ shards: [1, 2] }) as unknown as number[]);
    const d = dag("map_not_array", {}, () => {
      square.map(notAList());
    });

    const result = await runDag(d);

    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("square");
    expect(result.error?.message).toBe(
      'map "square": the output of task "not_a_list" must be an array, got an object',
    );
  });

  test("concurrency bounds the items running at once", async () => {
    let running = 0;
    let most = 0;
    const counted = task("counted", async (n: number) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return n;
    });
    const d = dag("map_concurrency", {}, () => {
      counted.map(discover(20), { concurrency: 3 });
    });

    const result = await runDag(d, { maxParallelism: 8 });

    expect(result.status).toBe("SUCCEEDED");
    expect(most).toBe(3);
  });

  test("the run's parallelism bounds items too", async () => {
    let running = 0;
    let most = 0;
    const counted = task("counted", async (n: number) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return n;
    });
    const d = dag("map_parallelism", {}, () => {
      counted.map(discover(20));
    });

    await runDag(d, { maxParallelism: 2 });

    expect(most).toBe(2);
  });

  test("a cancel stops the map: running items' signals fire, counts say what happened", async () => {
    const started = gate();
    let aborted = 0;
    const held = task("held", async (n: number, ctx) => {
      if (n === 1) started.resolve();
      await new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => {
          aborted++;
          reject(new Error("aborted"));
        }),
      );
      return n;
    });
    const controller = new AbortController();
    const d = dag("map_cancel", {}, () => {
      held.map(discover(5), { concurrency: 2 });
    });

    const running = runDag(d, { signal: controller.signal });
    await started.promise;
    controller.abort();
    const result = await running;

    expect(result.status).toBe("CANCELLED");
    expect(aborted).toBe(2);
    expect(result.tasks["held"]).toMatchObject({
      status: "CANCELLED",
      map: { total: 5, cancelled: 5, running: 0, pending: 0 },
    });
  });

  test("when another task fails, a map stops starting items and is CANCELLED", async () => {
    const release = gate();
    const first = gate();
    const waits = task("waits", async (n: number) => {
      if (n === 0) first.resolve();
      await release.promise;
      return n;
    });
    const fails = task("fails", async () => {
      await first.promise;
      throw new Error("boom");
    });
    const d = dag("map_other_fails", {}, () => {
      waits.map(discover(10), { concurrency: 1 });
      fails();
    });

    const { events, onEvent } = eventRecorder();

    const running = runDag(d, { onEvent });
    await until(() => summarize(events).includes("task_failed:fails"), "fails to fail");
    release.resolve();
    const result = await running;

    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("fails");
    expect(result.tasks["waits"]).toMatchObject({
      status: "CANCELLED",
      map: { total: 10, succeeded: 1, skipped: 9 },
    });
  });

  test("10,000 items: one task state of bounded size, in the executor and in the run record", async () => {
    const fragile = task("fragile", (n: number) => {
      if (n % 2 === 0) throw new Error(`item ${n} failed: ${"x".repeat(2000)}`);
      return n;
    });
    const d = dag("map_10k", {}, () => {
      fragile.map(discover(10_000), { toleratedFailurePercentage: 50 });
    });
    const written: Array<Record<string, TaskState>> = [];
    const recorder = new TaskStateRecorder({
      runId: "run-1",
      sink: { mergeTaskStates: async (_id, states) => written.push(states) },
    });
    const events: ExecutorEvent[] = [];
    const onEvent = (event: ExecutorEvent): void => {
      recorder.apply(event);
      if (event.map_task === undefined) events.push(event);
    };

    const result = await runDag(d, { onEvent, maxParallelism: 16 });
    recorder.applyResult(result);
    await recorder.close();

    expect(result.status).toBe("SUCCEEDED");
    expect(Object.keys(result.tasks)).toEqual(["discover", "fragile"]);
    const map = result.tasks["fragile"]!.map!;
    expect(map).toMatchObject({ total: 10_000, succeeded: 5_000, failed: 5_000 });
    expect(map.failures).toHaveLength(MAX_MAP_FAILURES_LISTED);
    expect(map.failures[0]!.error).toMatch(/^item 0 failed: x+…\[truncated\]$/);
    expect(map.failures[0]!.error.length).toBeLessThan(1100);
    const outputs = result.outputs["fragile"] as Array<number | null>;
    expect(outputs).toHaveLength(10_000);
    expect(outputs[0]).toBeNull();
    expect(outputs[9_999]).toBe(9_999);

    // What the worker writes to the run record: two entries, well under DynamoDB's 400 KB.
    const recorded = recorder.snapshot();
    expect(Object.keys(recorded).sort()).toEqual(["discover", "fragile"]);
    expect(recorded["fragile"]!.map).toMatchObject({ total: 10_000, failed: 5_000 });
    expect(recorded["fragile"]!.map!.failures).toHaveLength(MAX_MAP_FAILURES_LISTED);
    expect(JSON.stringify(recorded).length).toBeLessThan(40_000);
    for (const batch of written)
      expect(Object.keys(batch).every((id) => !id.includes("["))).toBe(true);
    // The run repository keeps the counts when it compacts states for DynamoDB.
    expect(compactTaskState(recorded["fragile"]!).map).toEqual(recorded["fragile"]!.map);
  });

  test("abort-running: when an item fails, the map's other running items are cancelled", async () => {
    const started = gate();
    let aborted = 0;
    const mixed = task("mixed", async (n: number, ctx) => {
      if (n === 0) {
        await started.promise;
        throw new Error("zero fails");
      }
      started.resolve();
      await new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => {
          aborted++;
          reject(new Error("aborted"));
        }),
      );
      return n;
    });
    const d = dag("map_abort_running", {}, () => {
      mixed.map(discover(6), { concurrency: 3 });
    });

    const result = await runDag(d, { failurePolicy: "abort-running" });

    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("mixed");
    expect(aborted).toBe(2);
    expect(result.tasks["mixed"]).toMatchObject({
      status: "FAILED",
      map: { total: 6, failed: 1, cancelled: 2, skipped: 3, running: 0, pending: 0 },
    });
  });

  describe("definition errors", () => {
    test("a list that is neither an array nor a task reference is refused", () => {
      expect(() =>
        dag("map_bad_list", {}, () => {
          square.map("{{ parameters.x }}" as unknown as number[]);
        }),
      ).toThrow(
        new DagDefinitionError(
          `DAG "map_bad_list", task "square": map() takes an array or a reference to a task's array output, got string`,
        ),
      );
    });

    test.each([
      [{ concurrency: 0 }, /option concurrency must be an integer >= 1, got 0/],
      [
        { toleratedFailurePercentage: 101 },
        /toleratedFailurePercentage must be a number >= 0 and <= 100/,
      ],
      [{ toleratedFailureCount: -1 }, /toleratedFailureCount must be an integer >= 0/],
      [{ isolate: "yes" }, /option isolate must be a boolean/],
      [{ parallel: 2 }, /unknown option "parallel"/],
    ])("options %j are refused", (options, message) => {
      expect(() =>
        dag("map_bad_options", {}, () => {
          square.map([1], options as never);
        }),
      ).toThrow(message);
    });

    test("map() outside a builder is refused", () => {
      expect(() => square.map([1])).toThrow(/outside a dag\(\) builder/);
    });

    test("a reference from another DAG is refused", () => {
      let foreign: ReturnType<typeof discover> | undefined;
      dag("map_other", {}, () => {
        foreign = discover(1);
      });
      expect(() =>
        dag("map_foreign", {}, () => {
          square.map(foreign!);
        }),
      ).toThrow(/refers to task "discover" of another DAG "map_other"/);
    });
  });
});
