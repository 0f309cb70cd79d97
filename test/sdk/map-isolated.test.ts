/**
 * `task.map(list, { isolate: true })` with an `isolatedMap` runner: the executor hands the
 * resolved list to the runner (the worker launches child runs) and joins what it reports.
 */
import { dag, runDag, task, type IsolatedMapRequest } from "dagy";
import { eventRecorder, gate, until } from "./helpers";

const discover = task("discover", (n: number) => Array.from({ length: n }, (_, i) => i));
const square = task("square", (n: number) => n * n);
const total = task("total", (xs: Array<number | null>) =>
  xs.reduce<number>((sum, x) => sum + (x ?? 0), 0),
);

function isolatedDag(options: { toleratedFailureCount?: number } = {}) {
  return dag("iso", {}, () => {
    total(square.map(discover(4), { isolate: true, ...options }));
  });
}

describe("isolated maps", () => {
  test("hands every item to the runner and joins reports in list order, whatever their order", async () => {
    const requests: IsolatedMapRequest[] = [];
    const { events, onEvent } = eventRecorder();
    const result = await runDag(isolatedDag(), {
      onEvent,
      isolatedMap: async (request) => {
        requests.push(request);
        for (const i of [3, 1, 0, 2]) {
          request.onItem(i, { ok: true, output: (request.items[i] as number) * 100 });
        }
        request.onItem(1, { ok: false, error: "late duplicate, ignored" });
      },
    });
    expect(result.status).toBe("SUCCEEDED");
    expect(requests.map((r) => [r.taskId, r.items])).toEqual([["square", [0, 1, 2, 3]]]);
    expect(result.outputs["square"]).toEqual([0, 100, 200, 300]);
    expect(result.outputs["total"]).toBe(600);
    expect(result.tasks["square"]?.map).toMatchObject({ total: 4, succeeded: 4, running: 0 });
    // The function never ran here: the items ran elsewhere.
    expect(events.filter((e) => e.event_type === "task_started" && e.map_task)).toEqual([]);
  });

  test("without a runner an isolated map runs in-process", async () => {
    const result = await runDag(isolatedDag());
    expect(result.outputs["square"]).toEqual([0, 1, 4, 9]);
  });

  test("failed items count against the tolerance; unreported items fail when the runner resolves", async () => {
    const tolerant = await runDag(isolatedDag({ toleratedFailureCount: 2 }), {
      isolatedMap: async (request) => {
        request.onItem(0, { ok: true, output: "a" });
        request.onItem(1, { ok: false, error: "child run FAILED: boom" });
        request.onItem(3, { ok: true, output: "d" });
      },
    });
    expect(tolerant.status).toBe("SUCCEEDED");
    expect(tolerant.outputs["square"]).toEqual(["a", null, null, "d"]);
    expect(tolerant.tasks["square"]?.map?.failures.map((f) => f.index)).toEqual([1, 2]);
    expect(tolerant.tasks["square"]?.map?.failures[1]?.error).toMatch(/without an outcome/);

    const strict = await runDag(isolatedDag(), {
      isolatedMap: () => Promise.reject(new Error("could not launch children")),
    });
    expect(strict.status).toBe("FAILED");
    expect(strict.failedTask).toBe("square");
    expect(strict.error?.message).toMatch(/could not launch children/);
  });

  test("a breach cancels the children still running and aborts the runner's signal", async () => {
    let signal: AbortSignal | undefined;
    const result = await runDag(isolatedDag(), {
      isolatedMap: async (request) => {
        signal = request.signal;
        request.onItem(2, { ok: false, error: "boom" });
        request.onItem(0, { ok: true, output: 0 }); // after the abort: ignored
      },
    });
    expect(result.status).toBe("FAILED");
    expect(signal?.aborted).toBe(true);
    expect(result.tasks["square"]?.map).toMatchObject({ failed: 1, cancelled: 3, succeeded: 0 });
  });

  test("cancelling the run aborts the runner's signal and cancels unreported items", async () => {
    const controller = new AbortController();
    const held = gate();
    let signal: AbortSignal | undefined;
    const running = runDag(isolatedDag(), {
      signal: controller.signal,
      isolatedMap: async (request) => {
        signal = request.signal;
        request.onItem(0, { ok: true, output: 0 });
        await held.promise;
      },
    });
    await until(() => signal !== undefined, "the runner to start");
    controller.abort(new Error("user cancel"));
    const result = await running;
    held.resolve();
    expect(result.status).toBe("CANCELLED");
    expect(signal?.aborted).toBe(true);
    expect(result.tasks["square"]?.map).toMatchObject({ succeeded: 1, cancelled: 3 });
  });
});
