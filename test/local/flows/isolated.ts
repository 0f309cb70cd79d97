/**
 * Test flow: an isolated map. `discover` (in the parent) records the parent worker's pid;
 * each item runs in a child run's worker, may hold (honouring cancellation) or fail, and the
 * parent joins the outputs into `out_file`.
 */
import { writeFile } from "node:fs/promises";
import { dag, task } from "dagy";

interface Item {
  i: number;
  hold_seconds: number;
  fail_item: number;
}

export const discover = task(
  "discover",
  async (input: { count: number; pid_file: string; hold_seconds: number; fail_item: number }) => {
    if (input.pid_file !== "") await writeFile(input.pid_file, String(process.pid));
    return Array.from({ length: input.count }, (_, i): Item => ({
      i,
      hold_seconds: input.hold_seconds,
      fail_item: input.fail_item,
    }));
  },
);

export const work = task("work", async (item: Item, ctx) => {
  if (item.i === item.fail_item) throw new Error(`item ${item.i} refused`);
  if (item.hold_seconds > 0) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, item.hold_seconds * 1000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new Error("aborted"));
      });
    });
  }
  return { square: item.i * item.i, pid: process.pid };
});

export const collect = task(
  "collect",
  async ({
    results,
    out_file,
  }: {
    results: Array<{ square: number; pid: number } | null>;
    out_file: string;
  }) => {
    const summary = {
      squares: results.map((r) => r?.square ?? null),
      pids: results.map((r) => r?.pid ?? null),
      parent: process.pid,
    };
    if (out_file !== "") await writeFile(out_file, JSON.stringify(summary));
    return summary;
  },
);

export default dag(
  "isolated",
  {
    version: "1.0.0",
    parameters: {
      count: { type: "number", default: 5 },
      hold_seconds: { type: "number", default: 0 },
      fail_item: { type: "number", default: -1 },
      pid_file: { type: "string", default: "" },
      out_file: { type: "string", default: "" },
    },
  },
  () => {
    const items = discover({
      count: "{{ parameters.count }}",
      pid_file: "{{ parameters.pid_file }}",
      hold_seconds: "{{ parameters.hold_seconds }}",
      fail_item: "{{ parameters.fail_item }}",
    });
    const results = work.map(items, { isolate: true, toleratedFailureCount: 1 });
    collect({ results, out_file: "{{ parameters.out_file }}" });
  },
);
