/**
 * Isolated fan-out: the same sum of squares as fan_out.ts, but each shard runs in a child run
 * of its own (a Fargate task in AWS, a worker process locally): its own process, memory,
 * workload profile, logs, attempts and status. The parent launches the children through the
 * platform, waits, and merges their outputs in shard order.
 *
 *   dagy start    # then, from another terminal:
 *   curl -s localhost:8787/flows/fan_out_isolated/runs -d '{"org_id":"acme-corp"}'
 *   curl -s 'localhost:8787/runs?org_id=acme-corp&parent_run_id=<run_id>'   # the children
 *
 * Use isolation when an item needs more memory than the parent, runs for minutes, or must not
 * take its siblings down with it; for small items the in-process map (fan_out.ts) is far cheaper.
 */
import { dag, task } from "dagy";

/** Numbers from..to (inclusive) of 1..n. */
export interface Shard {
  index: number;
  from: number;
  to: number;
}

export const plan = task("plan", ({ n, shardSize }: { n: number; shardSize: number }) => {
  const shards: Shard[] = [];
  for (let from = 1; from <= n; from += shardSize) {
    shards.push({ index: shards.length, from, to: Math.min(n, from + shardSize - 1) });
  }
  return shards;
});

/** Runs in a child run's worker; the sum is a decimal string (BigInt is not JSON). */
export const sumShard = task("sum_shard", ({ index, from, to }: Shard) => {
  let sum = 0n;
  for (let k = from; k <= to; k++) sum += BigInt(k) * BigInt(k);
  return { index, count: to - from + 1, sum: sum.toString(), pid: process.pid };
});

export const merge = task(
  "merge",
  ({ n, partials }: { n: number; partials: Array<{ count: number; sum: string }> }) => {
    const total = partials.reduce((acc, p) => acc + BigInt(p.sum), 0n);
    const count = partials.reduce((acc, p) => acc + p.count, 0);
    const big = BigInt(n);
    const expected = (big * (big + 1n) * (2n * big + 1n)) / 6n;
    if (count !== n || total !== expected) {
      throw new Error(`shards covered ${count} of ${n} numbers; sum ${total} != ${expected}`);
    }
    return { n, shards: partials.length, sum_of_squares: total.toString() };
  },
);

export default dag(
  "fan_out_isolated",
  {
    version: "1.0.0",
    description: "Sum of squares of 1..n, each group of shards in a child run of its own",
    parameters: {
      n: { type: "integer", default: 1000, description: "Sum squares of 1..n" },
      shard_size: { type: "integer", default: 250, description: "Numbers per shard" },
    },
  },
  () => {
    const shards = plan({ n: "{{ parameters.n }}", shardSize: "{{ parameters.shard_size }}" });
    // Two shards per child run, each child a `small` Fargate task.
    const partials = sumShard.map(shards, { itemsPerChild: 2, workloadProfile: "small" });
    merge({ n: "{{ parameters.n }}", partials });
  },
);
