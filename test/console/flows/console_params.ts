/** Console test flow: typed parameters for the launch form; fails unless `greeting` is given. */
import { dag, task } from "dagy";

export const greet = task(
  "greet",
  ({ greeting, times, loud }: { greeting: string; times: number; loud: boolean }, ctx) => {
    const text = Array.from({ length: times }, () => (loud ? greeting.toUpperCase() : greeting));
    ctx.log.info(text.join(" "));
    return { text };
  },
);

export default dag(
  "console_params",
  {
    version: "1.0.0",
    parameters: {
      greeting: { type: "string", description: "What to say" },
      times: { type: "integer", default: 2 },
      loud: { type: "boolean", default: false },
    },
  },
  () => {
    greet({
      greeting: "{{ parameters.greeting }}",
      times: "{{ parameters.times }}",
      loud: "{{ parameters.loud }}",
    });
  },
);
