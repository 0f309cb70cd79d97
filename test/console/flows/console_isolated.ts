/** Console test flow: an isolated map, each pair of items in a child run of its own. */
import { dag, task } from "dagy";

export const shards = task("shards", ({ count }: { count: number }) =>
  Array.from({ length: count }, (_, i) => i),
);

export const cube = task("cube", (i: number, ctx) => {
  ctx.log.info(`cubing ${i}`);
  return i * i * i;
});

export const join = task("join", (cubes: Array<number | null>) => cubes.length);

export default dag(
  "console_isolated",
  {
    version: "1.0.0",
    description: "Cubes a list in child runs, two items each",
    parameters: { count: { type: "number", default: 6 } },
  },
  () => {
    join(
      cube.map(shards({ count: "{{ parameters.count }}" }), { isolate: true, itemsPerChild: 2 }),
    );
  },
);
