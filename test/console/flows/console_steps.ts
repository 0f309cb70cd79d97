/** Console test flow: a diamond of four tasks that each take `step_seconds`, long enough to watch. */
import { dag, task } from "dagy";

const pause = (seconds: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, seconds * 1000);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("aborted"));
    });
  });

export const step = task("step", async ({ seconds }: { seconds: number; after?: unknown }, ctx) => {
  ctx.log.info(`step ${ctx.taskId} working`, { seconds });
  await pause(seconds, ctx.signal);
  return { done: ctx.taskId };
});

export default dag(
  "console_steps",
  {
    version: "1.0.0",
    description: "Four steps in a diamond",
    parameters: { step_seconds: { type: "number", default: 2 } },
  },
  () => {
    const seconds = "{{ parameters.step_seconds }}";
    const prepare = step({ seconds }, { id: "prepare" });
    const left = step({ seconds, after: prepare }, { id: "left" });
    const right = step({ seconds, after: prepare }, { id: "right" });
    step({ seconds, after: [left, right] }, { id: "finish" });
  },
);
