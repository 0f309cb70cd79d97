/**
 * Unit tests for flows: `import { testFlow } from "dagy/testing"`.
 *
 * ```ts
 * import flow, { load } from "../flows/etl_pipeline";
 *
 * test("the report counts every order", async () => {
 *   const run = await testFlow(flow, {
 *     parameters: { source: "orders.csv", destination: "out.json" },
 *     stubs: { extract: () => [{ id: 1, amount: 5 }], load: () => undefined },
 *   });
 *   expect(run.status).toBe("SUCCEEDED");
 *   expect(run.outputOf(transform)).toEqual({ orders: 1, total: 5 });
 *   expect(run.tasks.load.input).toMatchObject({ destination: "out.json" });
 * });
 * ```
 *
 * The flow runs in this process through the same executor as in the worker (same ordering,
 * retries, timeouts, maps, events), with any task's function replaced by a stub. Nothing is
 * written anywhere: events and task logs are captured and returned.
 */
import { ValidationError } from "../errors";
import { runDag, type ExecuteOptions, type FailurePolicy, type RunnableDag } from "../sdk/executor";
import type { TaskNode } from "../sdk/dag";
import type { Task } from "../sdk/task";
import type {
  ExecutorEvent,
  Json,
  RunOutcome,
  TaskContext,
  TaskLogger,
  TaskState,
} from "../sdk/types";

/**
 * Replaces a task's function in a test. It receives the task's input (for a mapped task, one
 * item) and context, like the function it replaces.
 */
export type TaskStub = (input: never, ctx: TaskContext) => unknown;

export interface TestFlowOptions {
  /** Checked against the flow's declarations and completed with defaults, as in a real run. */
  readonly parameters?: Record<string, Json>;
  /**
   * Functions to run instead of the tasks', by task id (`extract`, `extract_2`, or a mapped
   * task's id for every one of its items). An id the flow does not have is an error.
   */
  readonly stubs?: Readonly<Record<string, TaskStub>>;
  /** Default: the flow's `maxParallelism`, else 8. */
  readonly maxParallelism?: number;
  /** Default `finish-running`. */
  readonly failurePolicy?: FailurePolicy;
  /** Default `test-run`. */
  readonly runId?: string;
  /** Cancels the run, as a cancel request does in the worker. */
  readonly signal?: AbortSignal;
  /** Set parameters as environment variables during the run, as the worker does. Default false. */
  readonly exposeParametersAsEnv?: boolean;
}

/** One task's outcome: its state, plus its input and output when it ran. */
export interface TaskResult extends TaskState {
  /** The input of its last attempt, references and templates resolved (not for mapped tasks). */
  readonly input?: unknown;
  /** Present when the task succeeded (for a mapped task: the array of item outputs). */
  readonly output?: unknown;
}

/** A `ctx.log` call made by a task. */
export interface CapturedLog {
  readonly taskId: string;
  readonly attempt: number;
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  readonly fields?: Record<string, unknown>;
}

export interface FlowTestResult {
  readonly status: RunOutcome;
  /** Set when the run FAILED or was CANCELLED. */
  readonly error?: Error;
  /** The first task that failed for good, when the run FAILED. */
  readonly failedTask?: string;
  /** Every task of the flow by id, including those that never ran (PENDING, SKIPPED). */
  readonly tasks: Readonly<Record<string, TaskResult>>;
  /** Outputs of the tasks that succeeded, by task id. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** Every `ctx.log` call, in order. */
  readonly logs: readonly CapturedLog[];
  /** Every executor event, in order (what the worker writes as JSON log lines). */
  readonly events: readonly ExecutorEvent[];
  readonly durationMs: number;
  /**
   * The output of `task`, typed by it, under the task's default id (or the `id` given): a
   * task called twice has ids `name` and `name_2`.
   */
  outputOf<O>(task: Task<never, O>, id?: string): O | undefined;
  /** The outputs of a mapped task (`task.map(…)`), in list order; failed items' slots are null. */
  mapOutputOf<O>(task: Task<never, O>, id?: string): Array<O | null> | undefined;
}

function checkStubs(flow: RunnableDag, stubs: Readonly<Record<string, TaskStub>>): void {
  const ids = new Set(flow.nodes.map((node) => node.id));
  for (const [id, stub] of Object.entries(stubs)) {
    if (!ids.has(id)) {
      throw new ValidationError(
        `stubs.${id}: flow "${flow.name}" has no task "${id}"; its tasks: ${[...ids].join(", ")}`,
        `stubs.${id}`,
      );
    }
    if (typeof stub !== "function") {
      throw new ValidationError(`stubs.${id} must be a function`, `stubs.${id}`);
    }
  }
}

/**
 * Runs `flow` in this process with `stubs` in place of task functions and returns every task's
 * state, input and output, the run's status and error, and the captured events and logs.
 * Task failures do not reject (the result says FAILED); invalid parameters, options or stubs
 * reject with a `ValidationError` before any task runs.
 */
export async function testFlow(
  flow: RunnableDag,
  options: TestFlowOptions = {},
): Promise<FlowTestResult> {
  const stubs = options.stubs ?? {};
  checkStubs(flow, stubs);
  const inputs = new Map<string, unknown>();
  const nodes: TaskNode[] = flow.nodes.map((node) => {
    const fn = (stubs[node.id] ?? node.fn) as (input: unknown, ctx: TaskContext) => unknown;
    const record = (input: unknown, ctx: TaskContext): unknown => {
      if (node.map === undefined) inputs.set(node.id, input);
      return fn(input, ctx);
    };
    return { ...node, fn: record };
  });
  const events: ExecutorEvent[] = [];
  const logs: CapturedLog[] = [];
  const onEvent = (event: ExecutorEvent): void => {
    events.push(event);
    if (event.event_type === "task_log") {
      logs.push({
        taskId: event.task_id ?? "",
        attempt: event.attempt ?? 0,
        level: event.level ?? "info",
        message: event.message ?? "",
        ...(event.fields === undefined ? {} : { fields: event.fields }),
      });
    }
  };
  const execute: ExecuteOptions = {
    runId: options.runId ?? "test-run",
    onEvent,
    ...(options.parameters === undefined ? {} : { parameters: options.parameters }),
    ...(options.maxParallelism === undefined ? {} : { maxParallelism: options.maxParallelism }),
    ...(options.failurePolicy === undefined ? {} : { failurePolicy: options.failurePolicy }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.exposeParametersAsEnv === undefined
      ? {}
      : { exposeParametersAsEnv: options.exposeParametersAsEnv }),
  };
  const result = await runDag({ name: flow.name, options: flow.options, nodes }, execute);

  const tasks: Record<string, TaskResult> = {};
  for (const [id, state] of Object.entries(result.tasks)) {
    tasks[id] = {
      ...state,
      ...(inputs.has(id) ? { input: inputs.get(id) } : {}),
      ...(Object.prototype.hasOwnProperty.call(result.outputs, id)
        ? { output: result.outputs[id] }
        : {}),
    };
  }
  return {
    status: result.status,
    ...(result.error === undefined ? {} : { error: result.error }),
    ...(result.failedTask === undefined ? {} : { failedTask: result.failedTask }),
    tasks,
    outputs: result.outputs,
    logs,
    events,
    durationMs: result.durationMs,
    outputOf<O>(task: Task<never, O>, id?: string): O | undefined {
      return result.outputs[id ?? task.options.id ?? task.name] as O | undefined;
    },
    mapOutputOf<O>(task: Task<never, O>, id?: string): Array<O | null> | undefined {
      return result.outputs[id ?? task.options.id ?? task.name] as Array<O | null> | undefined;
    },
  };
}

/** A logger that drops everything: for calling `task.fn(input, ctx)` directly in a test. */
const silentLogger: TaskLogger = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * A task context for calling one task's function directly (`extract.fn(input, taskContext())`),
 * without a flow. Its logger drops messages unless `log` is given.
 */
export function taskContext(overrides: Partial<TaskContext> = {}): TaskContext {
  return {
    runId: "test-run",
    taskId: "test-task",
    attempt: 1,
    parameters: {},
    log: silentLogger,
    signal: new AbortController().signal,
    ...overrides,
  };
}
