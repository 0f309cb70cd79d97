/**
 * Dynamic fan-out / fan-in: a plan discovers the shards at run time (how many depends on the
 * run's parameters), one task instance per shard sums the squares of its numbers in parallel
 * (`sum_shard.map(shards)`: `sum_shard[0]`, `sum_shard[1]`, …), and a merge adds the partial
 * sums and checks them against n(n+1)(2n+1)/6.
 *
 *   dagy run examples/flows/fan_out.ts --param n=100000 --param shard_size=10000
 *
 * The DAG has three nodes whatever the number of shards; the run has one task per shard.
 */
import { dag, task } from "dagy";

/** Numbers from..to (inclusive) of 1..n. */
export interface Shard {
  index: number;
  from: number;
  to: number;
}

export interface Partial {
  index: number;
  count: number;
  /** A decimal string: BigInt is not JSON, and results cross process boundaries as JSON. */
  sum: string;
}

export const plan = task(
  "plan",
  ({ n, shardSize }: { n: number; shardSize: number }, ctx): Shard[] => {
    for (const [name, value] of [
      ["n", n],
      ["shard_size", shardSize],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${name} must be a whole number >= 1, got ${value}`);
      }
    }
    const shards: Shard[] = [];
    for (let from = 1; from <= n; from += shardSize) {
      shards.push({ index: shards.length, from, to: Math.min(n, from + shardSize - 1) });
    }
    ctx.log.info("planned shards", { n, shards: shards.length });
    return shards;
  },
);

export const sumShard = task(
  "sum_shard",
  ({ index, from, to }: Shard, ctx): Partial => {
    let sum = 0n;
    for (let k = from; k <= to; k++) sum += BigInt(k) * BigInt(k);
    ctx.log.info("shard done", { index, from, to });
    return { index, count: to - from + 1, sum: sum.toString() };
  },
  { retries: 1, retryDelayMs: 500 },
);

export const merge = task("merge", ({ n, partials }: { n: number; partials: Partial[] }) => {
  const total = partials.reduce((acc, p) => acc + BigInt(p.sum), 0n);
  const count = partials.reduce((acc, p) => acc + p.count, 0);
  const big = BigInt(n);
  const expected = (big * (big + 1n) * (2n * big + 1n)) / 6n;
  if (count !== n || total !== expected) {
    throw new Error(`shards covered ${count} of ${n} numbers; sum ${total} != ${expected}`);
  }
  return { n, shards: partials.length, sum_of_squares: total.toString() };
});

export default dag(
  "fan_out",
  {
    version: "2.0.0",
    description: "Sum of squares of 1..n: shards planned at run time, summed in parallel, merged",
    parameters: {
      n: { type: "integer", default: 1000, description: "Sum squares of 1..n" },
      shard_size: { type: "integer", default: 250, description: "Numbers per shard" },
    },
  },
  () => {
    const shards = plan({ n: "{{ parameters.n }}", shardSize: "{{ parameters.shard_size }}" });
    const partials = sumShard.map(shards, { concurrency: 4 });
    merge({ n: "{{ parameters.n }}", partials });
  },
);
