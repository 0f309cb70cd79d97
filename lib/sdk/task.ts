import { DagDefinitionError } from "../errors";
import { validateName, validateTaskOptions } from "./options";
import { registry, TASK_REF_BRAND } from "./registry";
import type { MapWorkloadProfile, TaskContext, TaskOptions } from "./types";

declare const outputType: unique symbol;

/**
 * The result of calling a task inside a `dag()` builder: a placeholder for the task's output,
 * to pass (anywhere, nested) in the input of later tasks. That makes the edges of the DAG.
 */
export interface TaskRef<T> {
  readonly taskId: string;
  /** Name of the DAG the reference belongs to. */
  readonly dagName: string;
  /** Phantom: carries the output type for type checking; never set at run time. */
  readonly [outputType]?: T;
  /** In `flow_spec.json` a reference is written `{"$ref": "<task id>"}`. */
  toJSON(): { $ref: string };
}

/** A string holding at least one `{{ … }}` template, e.g. `"{{ parameters.source }}"`. */
export type TemplateString = `${string}{{${string}}}${string}`;

/**
 * What a task accepts when called in a builder: its input type where any value, at any depth,
 * may instead be a `TaskRef` of that value's type or a template string.
 */
export type Input<T> =
  | T
  | TaskRef<T>
  | TemplateString
  | (T extends (...args: never[]) => unknown
      ? never
      : T extends object
        ? { [K in keyof T]: Input<T[K]> }
        : never);

/** Options of one call inside a builder: the task's options, overridden, plus ordering. */
export interface TaskCallOptions extends TaskOptions {
  /** Run after these tasks although no data flows from them. */
  readonly after?: ReadonlyArray<TaskRef<unknown>>;
}

/**
 * Options of `task.map(list, options)`: the call options (applied to every item: `retries`,
 * `timeoutMs`, …; `id` and `after` to the mapped task) plus the map's own.
 */
export interface MapOptions extends TaskCallOptions {
  /** Most items of this map running at once, within the run's parallelism. Default: no own limit. */
  readonly concurrency?: number;
  /**
   * Run items as isolated child runs (each a run of its own on the compute backend: a Fargate
   * task in AWS, a worker process locally). Where the worker cannot launch children (no
   * platform API), items run in-process. Implied by `itemsPerChild` and `workloadProfile`.
   */
  readonly isolate?: boolean;
  /** Isolated: items per child run (default 1); the child runs them like an in-process map. */
  readonly itemsPerChild?: number;
  /** Isolated: the child runs' workload profile (`small` … `max`). Default: the parent's. */
  readonly workloadProfile?: MapWorkloadProfile;
  /** Items that may fail (after their retries) while the map still succeeds. Default 0. */
  readonly toleratedFailureCount?: number;
  /**
   * Percentage (0-100) of the items that may fail while the map still succeeds; with
   * `toleratedFailureCount` too, the map fails as soon as either is exceeded. Default 0.
   */
  readonly toleratedFailurePercentage?: number;
}

/** Map options without a failure tolerance: every slot of the output holds an item's output. */
export type StrictMapOptions = MapOptions & {
  readonly toleratedFailureCount?: undefined;
  readonly toleratedFailurePercentage?: undefined;
};

/**
 * The list a task is mapped over: a reference to a task's array output, or an array written in
 * the flow (whose items may hold references and templates, like any input).
 */
export type MapList<I> = TaskRef<readonly I[]> | ReadonlyArray<Input<I>>;

export type TaskFunction<I, O> = (input: I, ctx: TaskContext) => Promise<O> | O;

/** Arguments of a task call: the input may be omitted when the task accepts `undefined`. */
export type TaskCallArgs<I> = undefined extends I
  ? [input?: Input<I>, options?: TaskCallOptions]
  : [input: Input<I>, options?: TaskCallOptions];

/** A named async function of one input value; call it inside `dag()` to add a node. */
export interface Task<I, O> {
  (...args: TaskCallArgs<I>): TaskRef<O>;
  readonly name: string;
  readonly options: TaskOptions;
  /** The function itself, to call directly (tests, reuse): `t.fn(input, ctx)`. */
  readonly fn: TaskFunction<I, O>;
  /**
   * Inside `dag()`: runs the task once per item of `list` (each item its own task instance,
   * `square[7]`, with its own retries, timeout and state) and returns a reference to the array
   * of outputs, in the order of the list. With a failure tolerance, failed items' slots are
   * `null`.
   */
  map(list: MapList<I>, options?: StrictMapOptions): TaskRef<O[]>;
  map(list: MapList<I>, options: MapOptions): TaskRef<Array<O | null>>;
}

/**
 * Defines a task. `options.id` (optional) replaces the name as the base of the node ids.
 *
 * ```ts
 * const extract = task("extract", async (input: { source: string }) => readCsv(input.source));
 * ```
 */
export function task<I = undefined, O = unknown>(
  name: string,
  fn: TaskFunction<I, O>,
  options?: TaskOptions,
): Task<I, O> {
  validateName("task", name);
  if (typeof fn !== "function") {
    throw new DagDefinitionError(`task "${name}": the second argument must be a function`);
  }
  const frozenOptions = Object.freeze({
    ...validateTaskOptions(`task "${name}"`, options, "task"),
  });
  const call = function (input?: unknown, callOptions?: unknown): unknown {
    const builder = registry().building;
    if (builder === undefined) {
      throw new DagDefinitionError(
        `task "${name}" was called outside a dag() builder; calling a task only records it in a ` +
          `DAG. To run its function directly use \`${name}.fn(input, ctx)\``,
      );
    }
    return builder.record(self, input, callOptions);
  };
  const map = function (list: unknown, mapOptions?: unknown): unknown {
    const builder = registry().building;
    if (builder === undefined) {
      throw new DagDefinitionError(
        `task "${name}": map() was called outside a dag() builder; it only records a mapped ` +
          `task in a DAG`,
      );
    }
    if (builder.recordMap === undefined) {
      throw new DagDefinitionError(
        `task "${name}": map() is not supported by the SDK copy that runs this dag() builder; ` +
          `use one version of dagy`,
      );
    }
    return builder.recordMap(self, list, mapOptions);
  };
  // `name` of a function is read-only but configurable; redefine it to the task name.
  Object.defineProperties(call, {
    name: { value: name, enumerable: true },
    fn: { value: fn, enumerable: true },
    options: { value: frozenOptions, enumerable: true },
    map: { value: map },
  });
  const self = call as unknown as Task<I, O>;
  return self;
}

/** True for a task reference from any copy of the SDK. */
export function isTaskRef(value: unknown): value is TaskRef<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { [TASK_REF_BRAND]?: unknown })[TASK_REF_BRAND] !== undefined
  );
}
