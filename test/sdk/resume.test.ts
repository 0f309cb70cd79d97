import { dag, runDag, task } from "dagy";

/** A chain extract -> transform -> load, counting executions. */
function chain() {
  const ran: string[] = [];
  const extract = task("extract", () => {
    ran.push("extract");
    return [1, 2, 3];
  });
  const transform = task("transform", (rows: number[]) => {
    ran.push("transform");
    return rows.map((r) => r * 10);
  });
  const load = task("load", (rows: number[]) => {
    ran.push("load");
    return rows.reduce((a, b) => a + b, 0);
  });
  const d = dag("resume_chain", {}, () => {
    load(transform(extract()));
  });
  return { d, ran };
}

describe("resuming with completed tasks", () => {
  test("completed tasks are not executed again; their outputs feed their downstream", async () => {
    const { d, ran } = chain();
    const outputs: Record<string, unknown> = {};
    const result = await runDag(d, {
      completed: { extract: [1, 2, 3], transform: [10, 20, 30] },
      onTaskOutput: (id, output) => (outputs[id] = output),
    });
    expect(result.status).toBe("SUCCEEDED");
    expect(ran).toEqual(["load"]);
    expect(result.outputs).toEqual({ extract: [1, 2, 3], transform: [10, 20, 30], load: 60 });
    expect(result.tasks.transform).toMatchObject({ status: "SUCCEEDED" });
    // Only what ran is reported.
    expect(outputs).toEqual({ load: 60 });
  });

  test("a task whose upstream is not completed runs, even if a seed names it", async () => {
    const { d, ran } = chain();
    const result = await runDag(d, { completed: { transform: [0] } });
    expect(ran).toEqual(["extract", "transform", "load"]);
    expect(result.outputs.load).toBe(60);
  });

  test("every task completed: the run succeeds without executing anything", async () => {
    const { d, ran } = chain();
    const result = await runDag(d, { completed: { extract: [1], transform: [2], load: 3 } });
    expect(result.status).toBe("SUCCEEDED");
    expect(ran).toEqual([]);
  });

  test("onTaskOutput receives each output as its task succeeds, a mapped task's as a list", async () => {
    const square = task("square", (n: number) => n * n);
    const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const d = dag("mapped", {}, () => {
      sum(square.map([1, 2, 3]));
    });
    const outputs: Array<[string, unknown]> = [];
    await runDag(d, { onTaskOutput: (id, output) => outputs.push([id, output]) });
    expect(outputs).toEqual([
      ["square", [1, 4, 9]],
      ["sum", 14],
    ]);
  });
});
