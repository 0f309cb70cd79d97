/**
 * Process-wide state shared by every copy of the SDK.
 *
 * A flow bundle carries its own copy of this module while the CLI and the worker load theirs,
 * so the state lives on `globalThis` under a `Symbol.for` key: `dag()` in the bundle registers
 * with the loader's `collectDags`, and a task defined by one copy can be used by another.
 * Keep this shape backwards compatible; add fields, never change existing ones.
 */

/** The `dag()` builder currently running; tasks called from anywhere record into it. */
export interface ActiveBuilder {
  readonly dagName: string;
  /** Records one task call; returns the `TaskRef` of the new node. */
  record(task: RecordableTask, input: unknown, callOptions: unknown): unknown;
  /** Records `task.map(list, options)`: one node run once per item. Absent in older copies. */
  recordMap?(task: RecordableTask, list: unknown, options: unknown): unknown;
}

/** What a task call hands to the builder (the fields of a `Task`). */
export interface RecordableTask {
  readonly name: string;
  readonly fn: (input: never, ctx: never) => unknown;
  readonly options: object;
}

export interface Registry {
  readonly version: 1;
  building: ActiveBuilder | undefined;
  /** Open `collectDags` calls, innermost last; each receives every DAG defined meanwhile. */
  readonly collectors: unknown[][];
}

const REGISTRY_KEY = Symbol.for("dagy.registry");

export function registry(): Registry {
  const holder = globalThis as { [REGISTRY_KEY]?: Registry };
  let found = holder[REGISTRY_KEY];
  if (found === undefined) {
    found = { version: 1, building: undefined, collectors: [] };
    holder[REGISTRY_KEY] = found;
  }
  return found;
}

/** Brand of task references, shared across SDK copies. */
export const TASK_REF_BRAND = Symbol.for("dagy.taskRef");
/** Brand of `Dag` objects, shared across SDK copies. */
export const DAG_BRAND = Symbol.for("dagy.dag");
