/** Batched task states: events coalesce per task, one write per flush, failures retried. */
import type { ExecutorEvent, TaskState } from "../../lib/sdk/types";
import { TaskStateRecorder } from "../../lib/worker/task-states";

function event(e: Partial<ExecutorEvent> & Pick<ExecutorEvent, "event_type">): ExecutorEvent {
  return { timestamp: "2026-01-01T00:00:00.000Z", run_id: "r", ...e };
}

function sink(fail: () => boolean = () => false) {
  const writes: Array<Record<string, TaskState>> = [];
  return {
    writes,
    mergeTaskStates: async (_runId: string, states: Record<string, TaskState>) => {
      if (fail()) throw new Error("ProvisionedThroughputExceededException");
      writes.push(structuredClone(states));
    },
  };
}

describe("TaskStateRecorder", () => {
  it("coalesces every change of a task between flushes into one entry of one write", async () => {
    const s = sink();
    const r = new TaskStateRecorder({ runId: "r", sink: s });
    r.apply(event({ event_type: "task_started", task_id: "a", attempt: 1, timestamp: "T1" }));
    r.apply(event({ event_type: "task_retrying", task_id: "a", attempt: 1, error: "flaky" }));
    r.apply(event({ event_type: "task_started", task_id: "a", attempt: 2, timestamp: "T2" }));
    r.apply(
      event({
        event_type: "task_succeeded",
        task_id: "a",
        attempt: 2,
        timestamp: "T3",
        duration_ms: 7,
      }),
    );
    r.apply(event({ event_type: "task_started", task_id: "b", attempt: 1, timestamp: "T1" }));
    r.apply(event({ event_type: "task_log", task_id: "b", attempt: 1, message: "hi" }));
    await r.flush();
    await r.flush(); // nothing changed: no write

    expect(s.writes).toEqual([
      {
        a: {
          status: "SUCCEEDED",
          attempts: 2,
          started_at: "T1",
          completed_at: "T3",
          duration_ms: 7,
        },
        b: { status: "RUNNING", attempts: 1, started_at: "T1" },
      },
    ]);
    expect(r.writeCount).toBe(1);
  });

  it("writes only the tasks that changed since the last write", async () => {
    const s = sink();
    const r = new TaskStateRecorder({ runId: "r", sink: s });
    r.apply(event({ event_type: "task_started", task_id: "a", attempt: 1, timestamp: "T1" }));
    r.apply(event({ event_type: "task_started", task_id: "b", attempt: 1, timestamp: "T1" }));
    await r.flush();
    r.apply(
      event({
        event_type: "task_failed",
        task_id: "b",
        attempt: 1,
        timestamp: "T2",
        error: "boom",
      }),
    );
    await r.close();
    expect(s.writes[1]).toEqual({
      b: { status: "FAILED", attempts: 1, started_at: "T1", completed_at: "T2", error: "boom" },
    });
  });

  it("flushes on its interval", async () => {
    const s = sink();
    const r = new TaskStateRecorder({ runId: "r", sink: s, flushIntervalMs: 10 });
    r.start();
    r.apply(event({ event_type: "task_started", task_id: "a", attempt: 1 }));
    for (let i = 0; i < 100 && s.writes.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await r.close();
    expect(s.writes[0]).toEqual({ a: expect.objectContaining({ status: "RUNNING" }) });
  });

  it("keeps states whose write failed and writes them with the next flush", async () => {
    let failing = true;
    const s = sink(() => failing);
    const errors: string[] = [];
    const r = new TaskStateRecorder({ runId: "r", sink: s, onError: (m) => errors.push(m) });
    r.apply(event({ event_type: "task_started", task_id: "a", attempt: 1, timestamp: "T1" }));
    await expect(r.flush()).resolves.toBeUndefined();
    expect(errors).toEqual(["could not record 1 task states"]);
    failing = false;
    await r.flush();
    expect(s.writes).toEqual([{ a: { status: "RUNNING", attempts: 1, started_at: "T1" } }]);
  });

  it("redacts and bounds task errors before they are stored", async () => {
    const s = sink();
    const r = new TaskStateRecorder({
      runId: "r",
      sink: s,
      maxErrorLength: 20,
      redact: (t) => t.replace("hunter2", "***"),
    });
    r.apply(
      event({
        event_type: "task_failed",
        task_id: "a",
        attempt: 1,
        error: "bad password hunter2 for user x",
      }),
    );
    await r.flush();
    expect(s.writes[0]?.a?.error).toBe("bad password *** for…[truncated]");
  });

  it("takes the executor's final states for tasks it never saw finish (cancelled, never started)", async () => {
    const s = sink();
    const r = new TaskStateRecorder({ runId: "r", sink: s });
    r.apply(event({ event_type: "task_started", task_id: "a", attempt: 1, timestamp: "T1" }));
    await r.flush();
    r.applyResult({
      tasks: {
        a: { status: "CANCELLED", attempts: 1, started_at: "T1", completed_at: "T2" },
        b: { status: "CANCELLED", attempts: 0 },
      },
    });
    await r.flush();
    expect(s.writes[1]).toEqual({
      a: { status: "CANCELLED", attempts: 1, started_at: "T1", completed_at: "T2" },
      b: { status: "CANCELLED", attempts: 0 },
    });
  });
});
