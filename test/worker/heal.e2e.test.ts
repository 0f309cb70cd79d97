/**
 * Resume and re-run with real workers (LocalBackend child processes, dynalite, s3rver): a run
 * interrupted by Spot resumes on its next attempt without executing its finished tasks again,
 * and a failed run re-run from its failure executes only the failed task and what follows.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { reconcileStoppedTask } from "../../lib/reconcile";
import { EXIT_CODES } from "../../lib/worker/run-host";
import {
  newOrg,
  registerTestFlow,
  startWorkerHarness,
  waitForFile,
  waitForRun,
  type WorkerHarness,
} from "./support";

let h: WorkerHarness;

beforeAll(async () => {
  h = await startWorkerHarness();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

describe("resume after an interruption", () => {
  it("the relaunched attempt does not execute tasks that already succeeded", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "resumable");
    const counter = path.join(h.dir, `${orgId}.count`);
    const marker = path.join(h.dir, `${orgId}.pid`);
    const { runId, taskArn } = await h.launcher.launch({
      flowName: "resumable",
      orgId,
      parameters: { counter, marker },
    });
    await waitForFile(marker);
    // Fargate Spot reclaims the task: SIGTERM, the worker saves what it has and exits.
    await h.backend.stop(taskArn!, "spot interruption");
    const exit = await h.exited(runId);
    expect(exit.code).toBe(EXIT_CODES.interrupted);
    const interrupted = await h.persistence.runs.get(runId);
    expect(interrupted?.status).toBe("RUNNING");
    // The 4 KB output went to S3 under the run's prefix, not into the record.
    expect(interrupted?.task_outputs?.extract).toMatchObject({
      uri: `s3://${h.env.buckets.artifacts}/run-outputs/${orgId}/${runId}/extract.json`,
    });

    // The ECS event reconciliation would get, for this local task.
    const outcome = await reconcileStoppedTask(
      { runId, taskArn: taskArn!, stopCode: "SpotInterruption", exitCode: exit.code ?? undefined },
      { runs: h.persistence.runs, relaunch: (run, next) => h.launcher.relaunch(run, next) },
    );
    expect(outcome).toMatchObject({ action: "relaunched", cause: "spot" });

    const run = await waitForRun(h, runId);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.started_at).toBe(interrupted?.started_at);
    expect(readFileSync(counter, "utf8")).toBe("x"); // extract ran once, in attempt 1
    expect(run.attempts?.map((a) => [a.attempt, a.stop_code ?? null])).toEqual([
      [1, "SpotInterruption"],
      [2, null],
    ]);
    expect(run.task_states?.extract).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    expect(run.task_states?.load).toMatchObject({ status: "SUCCEEDED" });
    expect(JSON.parse(run.task_outputs?.load?.json ?? "null")).toEqual({
      loaded: 3,
      extracted: true,
    });
    expect(h.log(runId)).toContain('"event_type":"run_resumed"');
  });
});

describe("re-run", () => {
  it("from the failure executes only the failed task and what follows it", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "flaky_chain");
    const journal = path.join(h.dir, `${orgId}.journal`);
    const failFlag = path.join(h.dir, `${orgId}.fail`);
    writeFileSync(failFlag, "1");
    const first = await h.launcher.launch({
      flowName: "flaky_chain",
      orgId,
      parameters: { journal, fail_flag: failFlag },
    });
    const failed = await waitForRun(h, first.runId);
    expect(failed.status).toBe("FAILED");
    expect(readFileSync(journal, "utf8")).toBe("first\nsecond\n");

    rmSync(failFlag);
    const rerun = await h.launcher.rerun(failed, "failure");
    expect(rerun.success).toBe(true);
    const done = await waitForRun(h, rerun.runId);
    expect(done.status).toBe("SUCCEEDED");
    expect(done).toMatchObject({ rerun_of: failed.run_id, rerun_from: "failure" });
    expect(done.flow_version).toBe(failed.flow_version);
    expect(readFileSync(journal, "utf8")).toBe("first\nsecond\nsecond\nthird\n");
    expect(JSON.parse(done.task_outputs?.third?.json ?? "null")).toBe(42);
    expect((await h.persistence.runs.get(failed.run_id))?.reruns).toEqual([rerun.runId]);

    // From the start, everything runs again.
    const again = await h.launcher.rerun(failed, "start");
    expect((await waitForRun(h, again.runId)).status).toBe("SUCCEEDED");
    expect(readFileSync(journal, "utf8")).toBe(
      "first\nsecond\nsecond\nthird\nfirst\nsecond\nthird\n",
    );
    expect((await h.persistence.runs.get(failed.run_id))?.reruns).toEqual([
      rerun.runId,
      again.runId,
    ]);
  });
});
