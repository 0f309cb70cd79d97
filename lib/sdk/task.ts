import { DagDefinitionError } from "../errors";
import { validateName, validateTaskOptions } from "./options";
import { registry, TASK_REF_BRAND } from "./registry";
import type { TaskContext, TaskOptions } from "./types";

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
  // `name` of a function is read-only but configurable; redefine it to the task name.
  Object.defineProperties(call, {
    name: { value: name, enumerable: true },
    fn: { value: fn, enumerable: true },
    options: { value: frozenOptions, enumerable: true },
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
