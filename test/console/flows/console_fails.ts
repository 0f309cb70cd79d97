/** Console test flow: a task that fails after one retry, so the run fails with a traceback. */
import { dag, task } from "dagy";

export const load = task("load", () => ({ rows: 3 }));

export const balance = task(
  "balance",
  ({ rows }: { rows: { rows: number } }, ctx) => {
    ctx.log.warn("checking the ledger", { rows: rows.rows });
    throw new Error("the ledger does not balance");
  },
  { retries: 1, retryDelayMs: 200 },
);

export default dag("console_fails", { version: "1.0.0" }, () => {
  balance({ rows: load() });
});
