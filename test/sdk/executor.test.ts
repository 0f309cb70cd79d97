import {
  dag,
  runDag,
  task,
  TaskAbortedError,
  TaskTimeoutError,
  RunCancelledError,
  ValidationError,
  type TaskContext,
  type TaskRef,
} from "dagy";
import { eventRecorder, gate, summarize, until, type Gate } from "./helpers";

describe("scheduling", () => {
  test("runs each task once its upstream succeeded, passing outputs as inputs", async () => {
    const order: string[] = [];
    const num = task("num", async (n: number) => {
      order.push(`num:${n}`);
      return n;
    });
    const add = task("add", async (input: { a: number; b: number }) => {
      order.push("add");
      return input.a + input.b;
    });
    const d = dag("sum", {}, () => {
      const a = num(1);
      const b = num(2);
      add({ a, b });
    });
    const result = await runDag(d);
    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs).toEqual({ num: 1, num_2: 2, add: 3 });
    expect(order.indexOf("add")).toBe(2);
    expect(result.tasks["add"]).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
  });

  test("`after` orders tasks without passing data", async () => {
    const order: string[] = [];
    const release = gate();
    const first = task("first", async () => {
      order.push("first:start");
      await release.promise;
      order.push("first");
    });
    const second = task("second", () => {
      order.push("second");
    });
    const d = dag("ordered", {}, () => {
      const f = first();
      second(undefined, { after: [f] });
    });
    const run = runDag(d);
    await until(() => order.length > 0, "first to start");
    // Several turns of the event loop: second must still wait for first.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["first:start"]);
    release.resolve();
    await run;
    expect(order).toEqual(["first:start", "first", "second"]);
  });

  test("never runs more tasks at once than maxParallelism", async () => {
    const gates: Gate[] = [];
    let active = 0;
    let peak = 0;
    const work = task("work", async () => {
      active++;
      peak = Math.max(peak, active);
      const g = gate();
      gates.push(g);
      await g.promise;
      active--;
    });
    const d = dag("wide", { maxParallelism: 5 }, () => {
      for (let i = 0; i < 10; i++) work();
    });
    const run = runDag(d, { maxParallelism: 3 });
    await until(() => gates.length === 3, "three tasks to start");
    // Finishing one task lets exactly one more start.
    gates[0]!.resolve();
    await until(() => gates.length === 4, "a fourth task");
    expect(active).toBe(3);
    for (let released = 1; released < 10; released++) {
      await until(() => gates.length > released, `task ${released + 1}`);
      gates[released]!.resolve();
    }
    const result = await run;
    expect(result.status).toBe("SUCCEEDED");
    expect(peak).toBe(3);
  });

  test("the DAG's maxParallelism is the default limit", async () => {
    let active = 0;
    let peak = 0;
    const work = task("work", async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setImmediate(resolve));
      active--;
    });
    const d = dag("limited", { maxParallelism: 2 }, () => {
      for (let i = 0; i < 6; i++) work();
    });
    await runDag(d);
    expect(peak).toBe(2);
  });

  test("a 10,000-long chain of synchronous tasks completes without growing the stack", async () => {
    const inc = task("inc", (n: number) => n + 1);
    const d = dag("chain", {}, () => {
      let previous: TaskRef<number> = inc(0);
      for (let i = 1; i < 10_000; i++) previous = inc(previous);
    });
    const result = await runDag(d);
    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs["inc_10000"]).toBe(10_000);
  });

  test("a task that cancels its own run synchronously ends the run CANCELLED", async () => {
    const controller = new AbortController();
    const quitter = task("quitter", () => controller.abort(), { timeoutMs: 60_000 });
    const result = await runDag(
      dag("quitting", {}, () => quitter()),
      { signal: controller.signal },
    );
    expect(result.status).toBe("CANCELLED");
    expect(result.tasks["quitter"]?.status).toBe("CANCELLED");
  });

  test("a hand-made DAG without nodes succeeds at once", async () => {
    const result = await runDag({ name: "empty", options: {}, nodes: [] });
    expect(result).toMatchObject({ status: "SUCCEEDED", tasks: {}, outputs: {} });
  });

  test("a hand-made DAG with a cycle or an unknown upstream is refused before any task runs", async () => {
    const ran: string[] = [];
    const node = (id: string, upstream: string[]) => ({
      ...dag("one", {}, () => task(id, () => ran.push(id))()).nodes[0]!,
      upstream,
    });
    const cyclic = { name: "cyclic", options: {}, nodes: [node("a", ["b"]), node("b", ["a"])] };
    await expect(runDag(cyclic)).rejects.toThrow('DAG "cyclic" has a cycle through tasks: a, b');
    const dangling = { name: "dangling", options: {}, nodes: [node("a", ["ghost"])] };
    await expect(runDag(dangling)).rejects.toThrow(
      'DAG "dangling": task "a" depends on unknown task "ghost"',
    );
    expect(ran).toEqual([]);
  });

  test("rejects an invalid maxParallelism or failurePolicy", async () => {
    const d = dag("opts", {}, () => task("t", () => 1)());
    await expect(runDag(d, { maxParallelism: 0 })).rejects.toThrow(
      "maxParallelism must be an integer >= 1, got 0",
    );
    await expect(runDag(d, { failurePolicy: "stop" as never })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

describe("events", () => {
  test("a small DAG emits the documented sequence", async () => {
    const { events, onEvent } = eventRecorder();
    const a = task("a", async (_: undefined, ctx: TaskContext) => {
      ctx.log.info("hello", { rows: 2 });
      return 1;
    });
    const b = task("b", async (n: number) => n + 1);
    const d = dag("small", {}, () => {
      b(a());
    });
    const result = await runDag(d, { runId: "run-42", onEvent });
    expect(result.status).toBe("SUCCEEDED");
    expect(summarize(events)).toEqual([
      "run_started",
      "task_started:a",
      "task_log:a",
      "task_succeeded:a",
      "task_started:b",
      "task_succeeded:b",
      "run_succeeded",
    ]);
    expect(events.every((e) => e.run_id === "run-42")).toBe(true);
    expect(events.every((e) => !Number.isNaN(Date.parse(e.timestamp)))).toBe(true);
    expect(events[2]).toMatchObject({
      event_type: "task_log",
      task_id: "a",
      attempt: 1,
      level: "info",
      message: "hello",
      fields: { rows: 2 },
    });
    expect(events[3]).toMatchObject({ attempt: 1, duration_ms: expect.any(Number) });
    expect(events[6]).toMatchObject({ duration_ms: expect.any(Number) });
  });

  test("a listener that throws does not break the run", async () => {
    const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => {});
    const d = dag("noisy", {}, () => task("t", () => 1)());
    const result = await runDag(d, {
      onEvent: () => {
        throw new Error("listener broke");
      },
    });
    expect(result.status).toBe("SUCCEEDED");
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain("listener broke");
    warn.mockRestore();
  });
});

describe("retries", () => {
  test("retries with exponential backoff and succeeds on a later attempt", async () => {
    const attempts: number[] = [];
    const flaky = task(
      "flaky",
      (_: undefined, ctx: TaskContext) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new Error(`failure ${ctx.attempt}`);
        return "ok";
      },
      { retries: 4, retryDelayMs: 1, backoffFactor: 2 },
    );
    const { events, onEvent } = eventRecorder();
    const result = await runDag(
      dag("flaky", {}, () => flaky()),
      { onEvent },
    );
    expect(result.status).toBe("SUCCEEDED");
    expect(attempts).toEqual([1, 2, 3]);
    expect(result.tasks["flaky"]).toMatchObject({ status: "SUCCEEDED", attempts: 3 });
    const retrying = events.filter((e) => e.event_type === "task_retrying");
    expect(retrying.map((e) => [e.attempt, e.retry_in_ms, e.error])).toEqual([
      [1, 1, "failure 1"],
      [2, 2, "failure 2"],
    ]);
    expect(summarize(events)).toEqual([
      "run_started",
      "task_started:flaky",
      "task_retrying:flaky",
      "task_started:flaky",
      "task_retrying:flaky",
      "task_started:flaky",
      "task_succeeded:flaky",
      "run_succeeded",
    ]);
  });

  test("call options override the task's; the delay is capped at maxRetryDelayMs", async () => {
    const always = task("always", () => Promise.reject(new Error("nope")), { retries: 1 });
    const { events, onEvent } = eventRecorder();
    const result = await runDag(
      dag("capped", {}, () =>
        always(undefined, { retries: 4, retryDelayMs: 1, backoffFactor: 3, maxRetryDelayMs: 5 }),
      ),
      { onEvent },
    );
    expect(result.status).toBe("FAILED");
    expect(result.tasks["always"]).toMatchObject({ status: "FAILED", attempts: 5, error: "nope" });
    expect(
      events.filter((e) => e.event_type === "task_retrying").map((e) => e.retry_in_ms),
    ).toEqual([1, 3, 5, 5]);
    const failed = events.filter((e) => e.event_type === "task_failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      attempt: 5,
      error: "nope",
      stack: expect.stringContaining("nope"),
    });
  });
});

describe("timeouts", () => {
  test("an attempt that ignores its signal still fails, and its signal fires", async () => {
    let signal: AbortSignal | undefined;
    const stuck = task(
      "stuck",
      (_: undefined, ctx: TaskContext) => {
        signal = ctx.signal;
        return new Promise<never>(() => {});
      },
      { timeoutMs: 10 },
    );
    const result = await runDag(dag("stuck", {}, () => stuck()));
    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("stuck");
    expect(result.error).toBeInstanceOf(TaskTimeoutError);
    expect(result.error?.message).toBe('task "stuck" timed out after 10 ms');
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(TaskTimeoutError);
  });

  test("a timed-out attempt is retried, and a late result of it is ignored", async () => {
    const first = gate<string>();
    const slowFirst = task(
      "slow_first",
      (_: undefined, ctx: TaskContext) => (ctx.attempt === 1 ? first.promise : "second"),
      { timeoutMs: 10, retries: 1, retryDelayMs: 1 },
    );
    const result = await runDag(dag("late", {}, () => slowFirst()));
    first.resolve("first, too late");
    await new Promise((resolve) => setImmediate(resolve));
    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs["slow_first"]).toBe("second");
    expect(result.tasks["slow_first"]?.attempts).toBe(2);
  });
});

describe("failures", () => {
  function failingDag(blocker: Gate, signals: AbortSignal[]) {
    const boom = task("boom", async () => {
      await new Promise((resolve) => setImmediate(resolve));
      throw new TypeError("bad row 7");
    });
    const slow = task("slow", async (_: undefined, ctx: TaskContext) => {
      signals.push(ctx.signal);
      await blocker.promise;
      return "slow done";
    });
    const after = task("after", (x: unknown) => x);
    return dag("failing", { maxParallelism: 2 }, () => {
      const b = boom();
      slow();
      const child = after(b);
      after(child);
      after(undefined); // independent, but waits for a slot behind boom and slow
    });
  }

  test("finish-running: downstream and unstarted tasks are skipped, running ones finish", async () => {
    const blocker = gate();
    const signals: AbortSignal[] = [];
    const { events, onEvent } = eventRecorder();
    const run = runDag(failingDag(blocker, signals), { onEvent });
    await until(() => events.some((e) => e.event_type === "task_failed"), "boom to fail");
    expect(events.some((e) => e.event_type === "run_failed")).toBe(false);
    blocker.resolve();
    const result = await run;

    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("boom");
    expect(result.error).toBeInstanceOf(TypeError);
    expect(result.error?.message).toBe("bad row 7");
    expect(result.tasks["boom"]).toMatchObject({ status: "FAILED", error: "bad row 7" });
    expect(result.tasks["slow"]?.status).toBe("SUCCEEDED");
    expect(result.outputs["slow"]).toBe("slow done");
    expect(signals[0]?.aborted).toBe(false);
    for (const id of ["after", "after_2", "after_3"]) {
      expect(result.tasks[id]?.status).toBe("SKIPPED");
    }
    const skipped = events.filter((e) => e.event_type === "task_skipped");
    expect(skipped.map((e) => [e.task_id, e.message])).toEqual([
      ["after", 'upstream task "boom" failed'],
      ["after_2", 'upstream task "boom" failed'],
      ["after_3", 'not started: the run failed (task "boom")'],
    ]);
    expect(events.at(-1)).toMatchObject({
      event_type: "run_failed",
      task_id: "boom",
      error: "bad row 7",
    });
  });

  test("abort-running: running tasks' signals fire and they are cancelled", async () => {
    const blocker = gate();
    const signals: AbortSignal[] = [];
    const result = await runDag(failingDag(blocker, signals), { failurePolicy: "abort-running" });
    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("boom");
    expect(result.tasks["slow"]?.status).toBe("CANCELLED");
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toBeInstanceOf(TaskAbortedError);
    expect(result.tasks["after_3"]?.status).toBe("SKIPPED");
    expect(result.outputs).not.toHaveProperty("slow");
  });

  test("a task waiting for a retry is not retried once the run failed", async () => {
    const attempts: number[] = [];
    const boom = task("boom", async () => {
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error("boom");
    });
    const flaky = task(
      "flaky",
      (_: undefined, ctx: TaskContext) => {
        attempts.push(ctx.attempt);
        throw new Error("flaky");
      },
      { retries: 3, retryDelayMs: 60_000 },
    );
    const result = await runDag(
      dag("retry_stop", {}, () => {
        flaky();
        boom();
      }),
    );
    expect(result.status).toBe("FAILED");
    expect(result.failedTask).toBe("boom");
    expect(result.tasks["flaky"]).toMatchObject({ status: "FAILED", attempts: 1, error: "flaky" });
    expect(attempts).toEqual([1]);
  });

  test("a thrown non-Error value becomes an Error with the value in its message", async () => {
    const weird = task("weird", () => {
      throw { code: 42 } as unknown as Error;
    });
    const result = await runDag(dag("weird", {}, () => weird()));
    expect(result.error?.message).toBe('non-Error value thrown: {"code":42}');
  });
});

describe("cancellation", () => {
  test("an external abort cancels running and pending tasks and ends the run", async () => {
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    const wait = task("wait", (_: undefined, ctx: TaskContext) => {
      signal = ctx.signal;
      return new Promise<number>(() => {});
    });
    const next = task("next", (n: number) => n);
    const { events, onEvent } = eventRecorder();
    const run = runDag(
      dag("cancellable", {}, () => next(wait())),
      { signal: controller.signal, onEvent },
    );
    await until(() => signal !== undefined, "wait to start");
    controller.abort(new Error("user pressed stop"));
    const result = await run;
    expect(result.status).toBe("CANCELLED");
    expect(result.error).toBeInstanceOf(RunCancelledError);
    expect(result.tasks["wait"]?.status).toBe("CANCELLED");
    expect(result.tasks["next"]?.status).toBe("CANCELLED");
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as Error).cause).toEqual(new Error("user pressed stop"));
    expect(summarize(events)).toEqual(["run_started", "task_started:wait", "run_cancelled"]);
  });

  test("an already aborted signal runs no task", async () => {
    let ran = false;
    const mark = task("mark", () => {
      ran = true;
    });
    const result = await runDag(
      dag("pre_aborted", {}, () => mark()),
      { signal: AbortSignal.abort() },
    );
    expect(result.status).toBe("CANCELLED");
    expect(result.tasks["mark"]?.status).toBe("CANCELLED");
    expect(ran).toBe(false);
  });
});

describe("exposeParametersAsEnv", () => {
  afterEach(() => {
    delete process.env["OUTPUT_BUCKET"];
    delete process.env["CFG"];
  });

  test("sets upper-cased parameters during the run and restores them after", async () => {
    process.env["OUTPUT_BUCKET"] = "previous";
    const seen: Record<string, string | undefined> = {};
    const read = task("read", () => {
      seen["OUTPUT_BUCKET"] = process.env["OUTPUT_BUCKET"];
      seen["CFG"] = process.env["CFG"];
      seen["PATH"] = process.env["PATH"];
      seen["DAGY_RUN_ID"] = process.env["DAGY_RUN_ID"];
    });
    const path = process.env["PATH"];
    const result = await runDag(
      dag("env", {}, () => read()),
      {
        exposeParametersAsEnv: true,
        parameters: {
          output_bucket: "s3://dagy-outputs-production",
          cfg: { a: [1] },
          path: "/evil",
          dagy_run_id: "forged",
        },
      },
    );
    expect(result.status).toBe("SUCCEEDED");
    expect(seen).toEqual({
      OUTPUT_BUCKET: "s3://dagy-outputs-production",
      CFG: '{"a":[1]}',
      PATH: path,
      DAGY_RUN_ID: process.env["DAGY_RUN_ID"],
    });
    expect(process.env["OUTPUT_BUCKET"]).toBe("previous");
    expect(process.env["CFG"]).toBeUndefined();
  });

  test("never exports a reserved name, an invalid name or a value with a control character", async () => {
    const names = ["NODE_OPTIONS", "LD_PRELOAD", "HTTPS_PROXY", "AWS_REGION", "BAD-NAME", "NUL"];
    const before = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    const seen: Record<string, string | undefined> = {};
    const read = task("read", (_: undefined, ctx: TaskContext) => {
      for (const n of names) seen[n] = process.env[n];
      seen["params"] = JSON.stringify(ctx.parameters);
    });
    const result = await runDag(
      dag("env_reserved", {}, () => read()),
      {
        exposeParametersAsEnv: true,
        parameters: {
          node_options: "--import=data:text/javascript,process.exit(9)",
          ld_preload: "/tmp/evil.so",
          https_proxy: "http://evil:3128",
          aws_region: "eu-west-1",
          "bad-name": "x",
          nul: "a\u0000b",
        },
      },
    );
    expect(result.status).toBe("SUCCEEDED");
    expect(Object.fromEntries(names.map((n) => [n, seen[n]]))).toEqual(before);
    // The parameters themselves still reach the tasks.
    expect(JSON.parse(seen["params"] ?? "{}")).toMatchObject({ ld_preload: "/tmp/evil.so" });
  });

  test("is off by default", async () => {
    let value: string | undefined = "unset";
    const read = task("read", () => {
      value = process.env["OUTPUT_BUCKET"];
    });
    await runDag(
      dag("env_off", {}, () => read()),
      { parameters: { output_bucket: "x" } },
    );
    expect(value).toBeUndefined();
  });
});

test("the task context carries the run id, task id and resolved parameters", async () => {
  let seen: Pick<TaskContext, "runId" | "taskId" | "attempt" | "parameters"> | undefined;
  const inspect = task("inspect", (_: undefined, ctx: TaskContext) => {
    seen = {
      runId: ctx.runId,
      taskId: ctx.taskId,
      attempt: ctx.attempt,
      parameters: ctx.parameters,
    };
  });
  await runDag(
    dag("ctx", { parameters: { n: { default: 1 } } }, () => inspect(undefined, { id: "look" })),
    { runId: "r-1" },
  );
  expect(seen).toEqual({ runId: "r-1", taskId: "look", attempt: 1, parameters: { n: 1 } });
});
