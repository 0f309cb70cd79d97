/**
 * Console test flow: an in-worker map over `count` numbers, `hold_ms` each, five at a time;
 * every item whose number is a multiple of `fail_every` fails (tolerated), the rest square.
 */
import { dag, task } from "dagy";

interface Item {
  n: number;
  hold_ms: number;
  fail_every: number;
}

export const numbers = task(
  "numbers",
  ({ count, hold_ms, fail_every }: { count: number; hold_ms: number; fail_every: number }) =>
    Array.from({ length: count }, (_, n): Item => ({ n, hold_ms, fail_every })),
);

export const square = task("square", async ({ n, hold_ms, fail_every }: Item) => {
  if (hold_ms > 0) await new Promise((resolve) => setTimeout(resolve, hold_ms));
  if (fail_every > 0 && n % fail_every === fail_every - 1)
    throw new Error(`item ${n} is odd one out`);
  return n * n;
});

export const total = task("total", (squares: Array<number | null>) =>
  squares.reduce<number>((sum, s) => sum + (s ?? 0), 0),
);

export default dag(
  "console_map",
  {
    version: "1.0.0",
    description: "Squares a list, five items at a time",
    parameters: {
      count: { type: "number", default: 250 },
      hold_ms: { type: "number", default: 0 },
      fail_every: { type: "number", default: 50 },
    },
  },
  () => {
    const list = numbers({
      count: "{{ parameters.count }}",
      hold_ms: "{{ parameters.hold_ms }}",
      fail_every: "{{ parameters.fail_every }}",
    });
    total(square.map(list, { concurrency: 5, toleratedFailureCount: 10 }));
  },
);
