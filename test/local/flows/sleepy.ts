/**
 * Test flow: one task that records its worker's pid (so a test can kill the worker) and then
 * waits, honouring cancellation.
 */
import { writeFile } from "node:fs/promises";
import { dag, task } from "dagy";

export const wait = task(
  "wait",
  async ({ pid_file, seconds }: { pid_file: string; seconds: number }, ctx) => {
    if (pid_file !== "") await writeFile(pid_file, String(process.pid));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, seconds * 1000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new Error("wait aborted"));
      });
    });
    return { waited: seconds };
  },
);

export default dag(
  "sleepy",
  {
    version: "1.0.0",
    parameters: {
      seconds: { type: "number", default: 60 },
      pid_file: { type: "string", default: "" },
    },
  },
  () => {
    wait({ pid_file: "{{ parameters.pid_file }}", seconds: "{{ parameters.seconds }}" });
  },
);
