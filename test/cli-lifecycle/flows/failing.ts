/** Test flow: one task that fails, so the run leaves a traceback. */
import { dag, task } from "dagy";

export const explode = task("explode", ({ reason }: { reason: string }) => {
  throw new Error(`exploded on purpose: ${reason}`);
});

export default dag(
  "failing",
  { version: "1.0.0", parameters: { reason: { type: "string", default: "test" } } },
  () => {
    explode({ reason: "{{ parameters.reason }}" });
  },
);
