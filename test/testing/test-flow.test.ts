/**
 * `testFlow` from `dagy/testing`: a flow author's unit test, written as a flow author would.
 */
import { dag, task, ValidationError } from "dagy";
import { taskContext, testFlow, type TaskStub } from "dagy/testing";
import etl, { extract, load, transform, type RawOrder } from "../../examples/flows/etl_pipeline";
import fanOut, { plan, sumShard, type Partial } from "../../examples/flows/fan_out";

const rawOrders: RawOrder[] = [
  { order_id: "1", customer: " Ada ", amount: "10.50", currency: "eur", created_at: "2026-01-02" },
  { order_id: "2", customer: "Ada", amount: "4.50", currency: "EUR", created_at: "2026-01-03" },
  { order_id: "3", customer: "Bob", amount: "1", currency: "usd", created_at: "2026-01-04" },
];

describe("testFlow", () => {
  test("runs a flow with stubbed tasks and returns each task's state, input and output", async () => {
    const loaded: unknown[] = [];
    const run = await testFlow(etl, {
      parameters: {
        date: "2024-03-14",
        source: "s3://bucket/orders.csv",
        destination: "s3://bucket/report.json",
      },
      stubs: {
        extract: () => rawOrders,
        load: (input: { destination: string }, ctx) => {
          loaded.push(input);
          ctx.log.info("pretend write", { destination: input.destination });
          return { destination: input.destination, orders: 3 };
        },
      },
    });

    expect(run.status).toBe("SUCCEEDED");
    expect(Object.keys(run.tasks)).toEqual(["extract", "transform", "load"]);
    expect(run.tasks["extract"]).toMatchObject({
      status: "SUCCEEDED",
      attempts: 1,
      input: { source: "s3://bucket/orders.csv" },
      output: rawOrders,
    });
    // The real transform ran on the stub's rows.
    const report = run.outputOf(transform);
    expect(report?.order_count).toBe(3);
    expect(report?.totals_by_currency).toEqual({ EUR: "15.00", USD: "1.00" });
    expect(run.tasks["load"]!.input).toMatchObject({ destination: "s3://bucket/report.json" });
    expect(run.outputOf(load)).toEqual({ destination: "s3://bucket/report.json", orders: 3 });
    expect(loaded).toHaveLength(1);
    expect(run.logs).toEqual([
      {
        taskId: "load",
        attempt: 1,
        level: "info",
        message: "pretend write",
        fields: { destination: "s3://bucket/report.json" },
      },
    ]);
    expect(run.events.map((e) => e.event_type).at(-1)).toBe("run_succeeded");
  });

  test("a failing task: the run FAILED, its error, downstream tasks SKIPPED", async () => {
    const run = await testFlow(etl, {
      parameters: { date: "2024-03-14", source: "missing.csv", destination: "out.json" },
      stubs: {
        extract: () => {
          throw new Error("source unreachable");
        },
      },
    });

    expect(run.status).toBe("FAILED");
    expect(run.failedTask).toBe("extract");
    expect(run.error?.message).toBe("source unreachable");
    expect(run.tasks["extract"]).toMatchObject({ status: "FAILED", error: "source unreachable" });
    expect(run.tasks["transform"]!.status).toBe("SKIPPED");
    expect(run.tasks["load"]!.status).toBe("SKIPPED");
    expect(run.tasks["load"]!.output).toBeUndefined();
  });

  test("runs a dynamic fan-out for real: one instance per shard, counts and outputs", async () => {
    const run = await testFlow(fanOut, { parameters: { n: 1000, shard_size: 300 } });

    expect(run.status).toBe("SUCCEEDED");
    expect(run.outputOf(plan)).toHaveLength(4);
    expect(run.tasks["sum_shard"]!.map).toMatchObject({ total: 4, succeeded: 4, failed: 0 });
    expect(run.mapOutputOf(sumShard)?.map((p) => p?.count)).toEqual([300, 300, 300, 100]);
    expect(run.outputs["merge"]).toEqual({ n: 1000, shards: 4, sum_of_squares: "333833500" });
    const shardLogs = run.logs.filter((l) => l.message === "shard done").map((l) => l.taskId);
    expect(shardLogs.sort()).toEqual([
      "sum_shard[0]",
      "sum_shard[1]",
      "sum_shard[2]",
      "sum_shard[3]",
    ]);
  });

  test("a stub of a mapped task replaces every item's function", async () => {
    const seen: number[] = [];
    const stub = (shard: { index: number; from: number; to: number }): Partial => {
      seen.push(shard.index);
      let sum = 0;
      for (let k = shard.from; k <= shard.to; k++) sum += k * k;
      return { index: shard.index, count: shard.to - shard.from + 1, sum: String(sum) };
    };

    const run = await testFlow(fanOut, {
      parameters: { n: 10, shard_size: 5 },
      stubs: { sum_shard: stub },
    });

    expect(run.status).toBe("SUCCEEDED");
    expect(seen.sort()).toEqual([0, 1]);
    expect(run.outputs["merge"]).toMatchObject({ sum_of_squares: "385" });
  });

  test("parameters are checked and defaulted as in a real run", async () => {
    await expect(testFlow(etl, { parameters: { source: "x.csv" } })).rejects.toThrow(/"date"/);
    const run = await testFlow(fanOut, { stubs: { merge: () => "merged" } });
    expect(run.outputOf(plan)).toHaveLength(4); // n=1000, shard_size=250 by default
    expect(run.outputs["merge"]).toBe("merged");
  });

  test("a stub for a task the flow does not have is refused, naming the flow's tasks", async () => {
    const promise = testFlow(etl, {
      parameters: { date: "2024-03-14", source: "a", destination: "b" },
      stubs: { extrakt: () => [] },
    });

    await expect(promise).rejects.toBeInstanceOf(ValidationError);
    await expect(promise).rejects.toThrow(
      'stubs.extrakt: flow "etl_pipeline" has no task "extrakt"; its tasks: extract, transform, load',
    );
  });

  test("outputOf takes the id of a repeated task", async () => {
    const add = task("add", ({ a, b }: { a: number; b: number }) => a + b);
    const flow = dag("adds", {}, () => {
      const three = add({ a: 1, b: 2 });
      add({ a: three, b: 4 });
    });

    const run = await testFlow(flow);

    expect(run.outputOf(add)).toBe(3);
    expect(run.outputOf(add, "add_2")).toBe(7);
  });

  test("taskContext() lets a test call one task's function directly", async () => {
    const messages: string[] = [];
    const orders = await extract.fn(
      { source: "examples/data/orders.csv" },
      taskContext({ log: { info: (m) => messages.push(m), warn: () => {}, error: () => {} } }),
    );

    expect(orders.length).toBeGreaterThan(0);
    expect(messages).toEqual(["extracted orders"]);
  });
});

/** Never called: only type-checked. */
export async function illTypedUses(): Promise<void> {
  const run = await testFlow(etl);
  // @ts-expect-error transform's output is a Report, not a number
  const n: number | undefined = run.outputOf(transform);
  // @ts-expect-error stubs are functions
  await testFlow(etl, { stubs: { extract: [] } });
  // @ts-expect-error parameters are JSON values
  await testFlow(etl, { parameters: { when: new Date() } });
  const stub: TaskStub = (rows: RawOrder[]) => rows.length;
  void n;
  void stub;
}
