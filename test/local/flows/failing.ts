/** Test flow: `prepare` succeeds, then `explode` throws, leaving a traceback. */
import { dag, task } from "dagy";

export const prepare = task("prepare", () => ({ rows: 3 }));
export const explode = task("explode", ({ prepared }: { prepared: { rows: number } }) => {
  throw new Error(`explode: cannot handle ${prepared.rows} rows`);
});

export default dag("failing", { version: "1.0.0" }, () => {
  explode({ prepared: prepare(undefined) });
});
