/**
 * Recording a DAG while its `dag()` builder runs: each task call becomes a `TaskNode`, with its
 * id, its upstream (data references and `after`), its resolved options and, for `task.map`, its
 * map marker. `dag()` in dag.ts checks the recorded graph as a whole.
 */
import { DagDefinitionError } from "../errors";
import { mapSpecOf } from "./map-spec";
import {
  resolveTaskOptions,
  validateTaskId,
  validateMapOptions,
  validateTaskOptions,
  type ResolvedTaskOptions,
} from "./options";
import { isPlainObject } from "./plain-object";
import { TASK_REF_BRAND, type ActiveBuilder, type RecordableTask } from "./registry";
import type { MapOptions, TaskCallOptions, TaskRef } from "./task";
import { isTaskRef } from "./task";
import { parseTemplate, templateParameterNames } from "./template";
import type { MapSpec, TaskContext, TaskOptions } from "./types";

/** Inputs nested deeper than this are refused (it also catches circular objects). */
const MAX_INPUT_DEPTH = 64;

/** One call of a task inside a builder: a node of the DAG. */
export interface TaskNode {
  readonly id: string;
  /** Name of the task function (several nodes may share one). */
  readonly task: string;
  readonly fn: (input: never, ctx: TaskContext) => unknown;
  /** The input as written: `TaskRef`s and template strings are resolved at run time. */
  readonly input: unknown;
  /** Ids of the tasks this one waits for (data references and `after`), sorted, unique. */
  readonly upstream: readonly string[];
  readonly options: ResolvedTaskOptions;
  /** False when the input holds no reference and no template: it is passed as written. */
  readonly dynamicInput: boolean;
  /** Parameters used by the input's templates (first path segment), sorted, unique. */
  readonly parameterNames: readonly string[];
  /** Set for a mapped task (`task.map(list)`): `input` is the list, one attempt series per item. */
  readonly map?: MapSpec;
}

/** Identity of one DAG definition, carried by its references to catch foreign ones. */
interface RefOwner {
  readonly dagName: string;
}

interface RefBrand {
  readonly owner: RefOwner;
}

class TaskReference implements TaskRef<unknown> {
  /** One brand object per builder, shared by all its references. */
  readonly [TASK_REF_BRAND]: RefBrand;
  constructor(
    readonly taskId: string,
    readonly dagName: string,
    brand: RefBrand,
  ) {
    this[TASK_REF_BRAND] = brand;
  }
  toJSON(): { $ref: string } {
    return { $ref: this.taskId };
  }
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/** Resolved options of a task called without option overrides, shared by all such calls. */
const defaultCallOptions = new WeakMap<object, ResolvedTaskOptions>();
const NO_CALL_OPTIONS: TaskCallOptions = Object.freeze({});

function sortedUnique(names: Set<string>): readonly string[] {
  if (names.size === 0) return NO_NAMES;
  if (names.size === 1) return Object.freeze([...names]);
  return Object.freeze([...names].sort());
}

/** Records the nodes of one DAG while its builder runs. */
export class DagBuilder implements ActiveBuilder, RefOwner {
  readonly nodes: TaskNode[] = [];
  /** Position of each node in `nodes`, by id. */
  readonly index = new Map<string, number>();
  /** Next suffix to try per base id, so repeats cost O(1) each. */
  private readonly nextSuffix = new Map<string, number>();
  private readonly brand: RefBrand = Object.freeze({ owner: this });
  /** Scratch sets reused by every `record` call (cleared each time). */
  private readonly upstream = new Set<string>();
  private readonly parameterNames = new Set<string>();

  constructor(
    readonly dagName: string,
    private readonly declaredParameters: ReadonlySet<string> | undefined,
  ) {}

  record(task: RecordableTask, input: unknown, rawCallOptions: unknown): TaskRef<unknown> {
    const taskOptions = task.options as TaskOptions;
    const base = taskOptions.id ?? task.name;
    const where = `DAG "${this.dagName}", task "${base}"`;
    const callOptions =
      rawCallOptions === undefined
        ? NO_CALL_OPTIONS
        : (validateTaskOptions(
            where,
            rawCallOptions as TaskCallOptions,
            "call",
          ) as TaskCallOptions);
    return this.add(task, base, where, input, callOptions, undefined);
  }

  recordMap(task: RecordableTask, list: unknown, rawOptions: unknown): TaskRef<unknown> {
    const taskOptions = task.options as TaskOptions;
    const base = taskOptions.id ?? task.name;
    const where = `DAG "${this.dagName}", task "${base}"`;
    const options: MapOptions =
      rawOptions === undefined
        ? NO_CALL_OPTIONS
        : validateTaskOptions(where, rawOptions as MapOptions, "map");
    validateMapOptions(where, options);
    const map = mapSpecOf(where, list, options);
    return this.add(task, base, where, list, options, map);
  }

  private add(
    task: RecordableTask,
    base: string,
    where: string,
    input: unknown,
    callOptions: TaskCallOptions,
    map: MapSpec | undefined,
  ): TaskRef<unknown> {
    const taskOptions = task.options as TaskOptions;
    const id = callOptions.id ?? this.autoId(base);
    if (this.index.has(id)) {
      throw new DagDefinitionError(
        `DAG "${this.dagName}": duplicate task id "${id}"; ids default to the task name with ` +
          `_2, _3, … for repeats, so an explicit id must not reuse one of those`,
      );
    }

    const upstream = this.upstream;
    const parameterNames = this.parameterNames;
    upstream.clear();
    parameterNames.clear();
    const dynamicInput = this.scanInput(id, input, upstream, parameterNames, 0);
    if (callOptions.after !== undefined) {
      if (!Array.isArray(callOptions.after)) {
        throw new DagDefinitionError(`${where}: option after must be an array of task references`);
      }
      for (const ref of callOptions.after as unknown[]) {
        if (!isTaskRef(ref)) {
          throw new DagDefinitionError(
            `DAG "${this.dagName}", task "${id}": option after must hold only task references ` +
              `(the values returned by calling tasks in this builder)`,
          );
        }
        this.checkOwnRef(id, ref);
        upstream.add(ref.taskId);
      }
    }
    if (this.declaredParameters !== undefined) {
      for (const name of parameterNames) {
        if (!this.declaredParameters.has(name)) {
          const declared = [...this.declaredParameters].sort().join(", ") || "(none)";
          throw new DagDefinitionError(
            `DAG "${this.dagName}", task "${id}": template uses undeclared parameter "${name}"; ` +
              `declared parameters: ${declared}`,
          );
        }
      }
    }

    this.index.set(id, this.nodes.length);
    this.nodes.push(
      Object.freeze({
        id,
        task: task.name,
        fn: task.fn as TaskNode["fn"],
        input,
        upstream: sortedUnique(upstream),
        options: this.resolveOptions(taskOptions, callOptions),
        dynamicInput,
        parameterNames: sortedUnique(parameterNames),
        ...(map === undefined ? {} : { map }),
      }),
    );
    return new TaskReference(id, this.dagName, this.brand);
  }

  private resolveOptions(taskOptions: TaskOptions, callOptions: TaskOptions): ResolvedTaskOptions {
    if (callOptions !== NO_CALL_OPTIONS) return resolveTaskOptions(taskOptions, callOptions);
    let resolved = defaultCallOptions.get(taskOptions);
    if (resolved === undefined) {
      resolved = resolveTaskOptions(taskOptions, NO_CALL_OPTIONS);
      defaultCallOptions.set(taskOptions, resolved);
    }
    return resolved;
  }

  private autoId(base: string): string {
    if (!this.index.has(base)) return base;
    let n = this.nextSuffix.get(base) ?? 2;
    let id = `${base}_${n}`;
    while (this.index.has(id)) id = `${base}_${++n}`;
    this.nextSuffix.set(base, n + 1);
    // `base` is a valid id and `_<n>` adds valid characters: only the length can break.
    if (id.length > 128) validateTaskId(id, `DAG "${this.dagName}"`);
    return id;
  }

  private checkOwnRef(taskId: string, ref: TaskRef<unknown>): void {
    if ((ref as unknown as { [TASK_REF_BRAND]: unknown })[TASK_REF_BRAND] !== this.brand) {
      throw new DagDefinitionError(
        `DAG "${this.dagName}", task "${taskId}": the input refers to task "${ref.taskId}" of ` +
          `another DAG "${ref.dagName}"; a DAG can only use the results of its own tasks`,
      );
    }
  }

  /** Collects references and template parameters; true when the input needs resolving. */
  private scanInput(
    taskId: string,
    value: unknown,
    upstream: Set<string>,
    parameterNames: Set<string>,
    depth: number,
  ): boolean {
    if (typeof value === "string") {
      const parsed = parseTemplate(value);
      if (parsed === undefined) return false;
      for (const name of templateParameterNames(parsed)) parameterNames.add(name);
      return true;
    }
    if (typeof value !== "object" || value === null) return false;
    if (depth > MAX_INPUT_DEPTH) {
      throw new DagDefinitionError(
        `DAG "${this.dagName}", task "${taskId}": the input is nested deeper than ` +
          `${MAX_INPUT_DEPTH} levels (is it circular?)`,
      );
    }
    if (isTaskRef(value)) {
      this.checkOwnRef(taskId, value);
      upstream.add(value.taskId);
      return true;
    }
    let dynamic = false;
    if (Array.isArray(value)) {
      for (const item of value) {
        if (this.scanInput(taskId, item, upstream, parameterNames, depth + 1)) dynamic = true;
      }
    } else if (isPlainObject(value)) {
      for (const key of Object.keys(value)) {
        if (this.scanInput(taskId, value[key], upstream, parameterNames, depth + 1)) dynamic = true;
      }
    }
    // Other objects (Date, Buffer, class instances) are passed as they are.
    return dynamic;
  }
}
