/**
 * The worker end to end: DagLauncher + LocalBackend start the bundled worker as a real child
 * process against local DynamoDB (dynalite) and S3 (s3rver), exactly as ECS would start it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ObjectStore, tracebackKey } from "../../lib/storage";
import { EXIT_CODES, SIGTERM_REASON } from "../../lib/worker/run-host";
import {
  REPO_ROOT,
  logLines,
  newOrg,
  registerTestFlow,
  startWorkerHarness,
  waitForFile,
  waitForRun,
  type WorkerHarness,
} from "./support";

const DB_PASSWORD = 'pa55-"w0rd"\\with:json-chars';
const DB_PASSWORD_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password";

let h: WorkerHarness;

beforeAll(async () => {
  h = await startWorkerHarness({ [DB_PASSWORD_ARN]: DB_PASSWORD });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

async function traceback(orgId: string, runId: string): Promise<string> {
  const uri = `s3://${h.env.buckets.traces}/${tracebackKey(orgId, runId)}`;
  return (await new ObjectStore(h.env.clients.s3).get(uri)).toString("utf8");
}

describe("worker", () => {
  it("runs the ETL example to SUCCEEDED, writes its output and records every task", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "examples/flows/etl_pipeline.ts");
    const destination = path.join(h.dir, `${orgId}-orders.json`);
    const source = path.join(REPO_ROOT, "examples/data/orders.csv");
    const launched = await h.launcher.launch({
      flowName: "etl_pipeline",
      orgId,
      parameters: { date: "2024-03-14", source, destination },
    });
    expect(launched.success).toBe(true);

    const run = await waitForRun(h, launched.runId);
    expect(run.status).toBe("SUCCEEDED");
    expect(run.started_at).toEqual(expect.any(String));
    expect(run.completed_at).toEqual(expect.any(String));
    expect(run.error_message ?? null).toBeNull();
    expect(Object.keys(run.task_states ?? {}).sort()).toEqual(["extract", "load", "transform"]);
    for (const state of Object.values(run.task_states ?? {})) {
      expect(state).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
      expect(state.started_at).toEqual(expect.any(String));
      expect(state.completed_at).toEqual(expect.any(String));
      expect(state.duration_ms).toEqual(expect.any(Number));
    }

    const dataRows = readFileSync(source, "utf8")
      .split(/\r?\n/)
      .slice(1)
      .filter((l) => l.trim() !== "").length;
    const report = JSON.parse(readFileSync(destination, "utf8"));
    expect(report.order_count).toBe(dataRows);
    expect(report.orders).toHaveLength(dataRows);
    expect(report.orders.every((o: { processed: boolean }) => o.processed)).toBe(true);

    expect((await h.exited(launched.runId)).code).toBe(EXIT_CODES.succeeded);
    const lines = logLines(h.log(launched.runId));
    const started = lines.filter((l) => l.event_type === "task_started");
    expect(started.map((l) => l.task_id)).toEqual(["extract", "transform", "load"]);
    for (const line of started) {
      expect(line).toMatchObject({
        run_id: launched.runId,
        org_id: orgId,
        flow_name: "etl_pipeline",
        attempt: 1,
      });
    }
    expect(lines.find((l) => l.event_type === "task_succeeded")).toHaveProperty("duration_ms");
    expect(lines.some((l) => l.event_type === "run_succeeded")).toBe(true);
  });

  it("records a task that fails after its retries: attempts, error_message and the traceback object", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "retry_fail");
    const { runId } = await h.launcher.launch({ flowName: "retry_fail", orgId });

    const run = await waitForRun(h, runId);
    expect(run.status).toBe("FAILED");
    expect(run.error_message).toBe(
      "Task load_warehouse failed after 3 attempts: warehouse unavailable (attempt 3)",
    );
    expect(run.task_states?.prepare).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    expect(run.task_states?.load_warehouse).toMatchObject({
      status: "FAILED",
      attempts: 3,
      error: "warehouse unavailable (attempt 3)",
    });
    const key = `exceptions/${orgId}/${runId}/traceback.txt`;
    expect(run.traceback_uri).toBe(`s3://${h.env.buckets.traces}/${key}`);
    const text = await traceback(orgId, runId);
    expect(text).toContain(`Run ${runId} of flow retry_fail@${run.flow_version}`);
    expect(text).toContain("Task load_warehouse failed (attempt 3):");
    // The full stack, pointing at the flow's source.
    expect(text).toMatch(/Error: warehouse unavailable \(attempt 3\)\n\s+at /);
    expect(text).toContain("retry_fail.ts");
    expect(text).toContain("warehouse unavailable (attempt 1)");
    expect((await h.exited(runId)).code).toBe(EXIT_CODES.flowFailed);
    const events = logLines(h.log(runId)).map((l) => l.event_type);
    expect(events.filter((e) => e === "task_retrying")).toHaveLength(2);
    expect(events).toContain("task_failed");
  });

  it("cancels a running run: the task's signal fires, the run is CANCELLED and the worker is gone", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "long_task");
    const marker = path.join(h.dir, `${orgId}.pid`);
    const { runId } = await h.launcher.launch({
      flowName: "long_task",
      orgId,
      parameters: { marker },
    });
    const pid = Number(await waitForFile(marker));
    await waitForRun(h, runId, (r) => r.status === "RUNNING");

    await h.launcher.cancelRun(runId);
    const exit = await h.exited(runId);
    expect(exit.code).toBe(EXIT_CODES.cancelled);
    const run = await waitForRun(h, runId);
    expect(run.status).toBe("CANCELLED");
    expect(run.cancel_requested).toBe(true);
    expect(run.task_states?.wait_for_stop?.status).toBe("CANCELLED");
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  });

  it("a SIGTERM without a cancel request (Spot interruption, StopTask) leaves the run RUNNING for reconciliation", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "long_task");
    const marker = path.join(h.dir, `${orgId}.pid`);
    const { runId, taskArn } = await h.launcher.launch({
      flowName: "long_task",
      orgId,
      parameters: { marker },
    });
    await waitForFile(marker);
    await h.backend.stop(taskArn!, "spot interruption");

    expect((await h.exited(runId)).code).toBe(EXIT_CODES.interrupted);
    const run = await h.persistence.runs.get(runId);
    expect(run?.status).toBe("RUNNING");
    expect(run?.task_states?.wait_for_stop?.status).toBe("CANCELLED");
    expect(h.log(runId)).toContain(SIGTERM_REASON);
    expect(h.log(runId)).toContain('"event_type":"run_interrupted"');
  });

  it("a worker killed with SIGKILL never claims success: the run stays RUNNING for reconciliation", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "long_task");
    const marker = path.join(h.dir, `${orgId}.pid`);
    const { runId } = await h.launcher.launch({
      flowName: "long_task",
      orgId,
      parameters: { marker },
    });
    const pid = Number(await waitForFile(marker));
    await waitForRun(h, runId, (r) => r.status === "RUNNING");

    process.kill(pid, "SIGKILL");
    expect((await h.exited(runId)).signal).toBe("SIGKILL");
    const run = await h.persistence.runs.get(runId);
    expect(run?.status).toBe("RUNNING");
    // What the task-events Lambda / sweep does next is possible: RUNNING -> FAILED, conditionally.
    const reconciled = await h.persistence.runs.transition(runId, "RUNNING", "FAILED", {
      error_message: "Worker was killed (SIGKILL) before recording an outcome",
    });
    expect(reconciled?.status).toBe("FAILED");
  });

  it("refuses an artifact whose bytes do not match the registered sha256", async () => {
    const orgId = newOrg();
    const flow = await registerTestFlow(h, orgId, "retry_fail");
    // Someone replaced the object after registration.
    await h.store.put(flow.artifact_s3_uri, Buffer.concat([flow.artifact, Buffer.from("tamper")]));
    const { runId } = await h.launcher.launch({ flowName: "retry_fail", orgId });

    const run = await waitForRun(h, runId);
    expect(run.status).toBe("FAILED");
    expect(run.error_message).toContain("artifact checksum mismatch");
    expect(run.error_message).toContain(flow.artifact_sha256);
    expect(Object.keys(run.task_states ?? {})).toEqual([]);
    expect((await h.exited(runId)).code).toBe(EXIT_CODES.workerError);
  });

  it.each([
    ["the run record", 10_000, "DAGY_PARAMETERS_IN_RUN"],
    ["S3 (too large for the run record)", 320 * 1024, "DAGY_PARAMETERS_URI"],
  ])(
    "gives task code parameters too large for the container overrides, kept in %s",
    async (_where, length, variable) => {
      const orgId = newOrg();
      await registerTestFlow(h, orgId, "examples/flows/hello.ts");
      const name = `Dagy ${"\u00e9".repeat(length)}`;
      const { runId, success } = await h.launcher.launch({
        flowName: "hello",
        orgId,
        parameters: { name },
      });
      expect(success).toBe(true);
      const run = await waitForRun(h, runId);
      expect(run.status).toBe("SUCCEEDED");
      if (variable === "DAGY_PARAMETERS_IN_RUN") {
        expect(run.parameters).toEqual({ name });
      } else {
        expect(run.parameters_uri).toBe(
          `s3://${h.env.buckets.artifacts}/run-inputs/${orgId}/${runId}/parameters.json`,
        );
      }
      await h.exited(runId);
      expect(h.log(runId)).toContain(`Hello, ${name}!`);
    },
  );

  it("gives task code the run's secrets and keeps them out of logs, the run record and the traceback", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "secrets");
    const output = path.join(h.dir, `${orgId}-secret.json`);
    const { runId, success } = await h.launcher.launch({
      flowName: "secret_user",
      orgId,
      parameters: { output },
      secretsEnv: { DB_PASSWORD: DB_PASSWORD_ARN },
    });
    expect(success).toBe(true);

    const run = await waitForRun(h, runId);
    expect(run.status).toBe("FAILED");
    const seen = JSON.parse(readFileSync(output, "utf8"));
    expect(seen).toEqual({
      sha256: createHash("sha256").update(DB_PASSWORD).digest("hex"),
      length: DB_PASSWORD.length,
    });

    await h.exited(runId);
    const escaped = JSON.stringify(DB_PASSWORD).slice(1, -1);
    const log = h.log(runId);
    expect(log).toContain("connecting to the database");
    expect(log).toContain("debug: password is ***");
    expect(log).not.toContain(DB_PASSWORD);
    expect(log).not.toContain(escaped);
    const record = JSON.stringify(await h.persistence.runs.get(runId));
    expect(record).toContain("login failed for password ***");
    expect(record).not.toContain(DB_PASSWORD);
    expect(record).not.toContain(escaped);
    expect(run.secret_names).toEqual(["DB_PASSWORD"]);
    const trace = await traceback(orgId, runId);
    expect(trace).toContain("login failed for password ***");
    expect(trace).not.toContain(DB_PASSWORD);
  });
});
