/**
 * Compile-time checks of the public types (tsc runs on tests; a wrong type fails `npm run lint`)
 * plus the runtime behaviour of the same definitions.
 */
import { dag, runDag, task, type Input, type TaskRef } from "dagy";

const count = task("count", async (rows: string[]) => rows.length);
const label = task(
  "label",
  (input: { n: number; name: string; tags?: string[] }) => `${input.name}:${input.n}`,
);
const ping = task("ping", async () => "pong");
const numbers = task("numbers", (): number[] => [1, 2, 3]);
const words = task("words", (): string[] => ["a"]);
const double = task("double", async (n: number) => n * 2);
const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));

test("task references, templates and plain values type-check where they fit", async () => {
  const d = dag(
    "typed",
    { parameters: { name: { type: "string" }, rows: { type: "array" } } },
    () => {
      const n: TaskRef<number> = count("{{ parameters.rows }}");
      const p: TaskRef<string> = ping();
      label({ n, name: "{{ parameters.name }}" });
      label({ n: 1, name: p, tags: [p, "x"] });
    },
  );
  const input: Input<{ a: number[] }> = { a: [1, "{{ parameters.x }}"] };
  expect(input).toEqual({ a: [1, "{{ parameters.x }}"] });

  const result = await runDag(d, { parameters: { name: "n", rows: ["a", "b"] } });
  expect(result.outputs["count"]).toBe(2);
  expect(result.outputs["label"]).toBe("n:2");
  expect(result.outputs["label_2"]).toBe("pong:1");
});

test("task.map is typed by the task's input and output", async () => {
  const d = dag("typed_map", {}, () => {
    const doubled: TaskRef<number[]> = double.map(numbers());
    sum(doubled);
    const tolerant: TaskRef<Array<number | null>> = double.map([1, 2], {
      id: "tolerant",
      toleratedFailureCount: 1,
    });
    label({ n: 1, name: ping(), tags: ["x"] }, { after: [tolerant] });
  });

  const result = await runDag(d);
  expect(result.outputs["sum"]).toBe(12);
  expect(result.outputs["tolerant"]).toEqual([2, 4]);
});

/** Never called: only type-checked. Each marked line must stay a type error. */
export function illTypedCalls(): void {
  dag("ill_typed", {}, () => {
    const p = ping();
    // @ts-expect-error a string output cannot feed a number field
    label({ n: p, name: "x" });
    // @ts-expect-error a plain string that is not a template is not a number
    label({ n: "3", name: "x" });
    // @ts-expect-error the input is required when the task needs one
    label();
    // @ts-expect-error unknown call option
    ping(undefined, { retry: 3 });
    // @ts-expect-error the items of a string list do not fit a number input
    double.map(words());
    // @ts-expect-error a literal list's items must fit the input too
    double.map([1, "two"]);
    // @ts-expect-error with a failure tolerance, failed slots are null
    const strict: TaskRef<number[]> = double.map([1], { toleratedFailurePercentage: 5 });
    // @ts-expect-error a map's output is an array, not one item
    double(double.map([1]));
    // @ts-expect-error unknown map option
    double.map([1], { parallel: 2 });
    void strict;
  });
}
