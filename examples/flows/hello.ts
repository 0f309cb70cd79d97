/**
 * The smallest flow: one task. `dagy run examples/flows/hello.ts --param name=Dagy`
 */
import { dag, task } from "dagy";

export const hello = task("hello", ({ name }: { name: string }, ctx) => {
  const greeting = `Hello, ${name}!`;
  ctx.log.info(greeting);
  return { greeting };
});

export default dag(
  "hello",
  {
    version: "1.0.0",
    description: "Greets someone; used to measure launch latency",
    parameters: { name: { type: "string", default: "world" } },
  },
  () => {
    hello({ name: "{{ parameters.name }}" });
  },
);
