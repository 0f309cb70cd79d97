/**
 * Fan-out / fan-in: a plan splits 1..n into shards, each shard sums the squares of its numbers
 * in parallel, and a merge adds the partial sums (and checks them against n(n+1)(2n+1)/6).
 *
 *   dagy run examples/flows/fan_out.ts --param n=100000
 *
 * The number of shards is fixed when the DAG is defined (it is the shape of the graph); the
 * work each shard does comes from the run's parameters.
 */
import { dag, task } from "dagy";

export const SHARDS = 4;

interface Plan {
  n: number;
  shards: number;
}

export const plan = task("plan", ({ n }: { n: number }): Plan => {
  if (!Number.isInteger(n) || n < 1) throw new Error(`n must be a whole number >= 1, got ${n}`);
  return { n, shards: SHARDS };
});

/** Shard `index` takes every number k in 1..n with k % shards === index. */
export const sumShard = task("sum_shard", ({ plan, index }: { plan: Plan; index: number }, ctx) => {
  let sum = 0n;
  let count = 0;
  for (let k = index === 0 ? plan.shards : index; k <= plan.n; k += plan.shards) {
    sum += BigInt(k) * BigInt(k);
    count++;
  }
  ctx.log.info("shard done", { index, count });
  // BigInt is not JSON; results cross process boundaries as JSON, so send a decimal string.
  return { index, count, sum: sum.toString() };
});

export const merge = task(
  "merge",
  ({ plan, partials }: { plan: Plan; partials: Array<{ count: number; sum: string }> }) => {
    const total = partials.reduce((acc, p) => acc + BigInt(p.sum), 0n);
    const count = partials.reduce((acc, p) => acc + p.count, 0);
    const n = BigInt(plan.n);
    const expected = (n * (n + 1n) * (2n * n + 1n)) / 6n;
    if (count !== plan.n || total !== expected) {
      throw new Error(`shards covered ${count} of ${plan.n} numbers; sum ${total} != ${expected}`);
    }
    return { n: plan.n, shards: partials.length, sum_of_squares: total.toString() };
  },
);

export default dag(
  "fan_out",
  {
    version: "1.0.0",
    description: "Sum of squares of 1..n computed by parallel shards, then merged",
    parameters: { n: { type: "integer", default: 1000, description: "Sum squares of 1..n" } },
  },
  () => {
    const p = plan({ n: "{{ parameters.n }}" });
    const partials = Array.from({ length: SHARDS }, (_, index) =>
      sumShard({ plan: p, index }, { id: `shard_${index}` }),
    );
    merge({ plan: p, partials });
  },
);
