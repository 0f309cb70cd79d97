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
  });
}
