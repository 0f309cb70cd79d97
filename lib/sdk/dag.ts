import { DagDefinitionError } from "../errors";
import {
  resolveTaskOptions,
  validateName,
  validateTaskId,
  validateMapOptions,
  validateTaskOptions,
  VERSION_PATTERN,
  type ResolvedTaskOptions,
} from "./options";
import { validateParameterDeclarations } from "./parameters";
import {
  DAG_BRAND,
  registry,
  TASK_REF_BRAND,
  type ActiveBuilder,
  type RecordableTask,
} from "./registry";
import type { MapOptions, TaskCallOptions, TaskRef } from "./task";
import { isTaskRef } from "./task";
import { buildPlan } from "./plan";
import { parseTemplate, templateParameterNames } from "./template";
import type { DagOptions, FlowSpec, Json, MapSpec, TaskContext, TaskOptions } from "./types";

/** Default of `DagOptions.version`. */
export const DEFAULT_DAG_VERSION = "0.0.0";
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
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
class DagBuilder implements ActiveBuilder, RefOwner {
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
    let over: MapSpec["over"];
    if (isTaskRef(list)) over = { task: list.taskId };
    else if (Array.isArray(list)) over = { length: list.length };
    else {
      throw new DagDefinitionError(
        `${where}: map() takes an array or a reference to a task's array output, got ` +
          `${list === null ? "null" : typeof list}`,
      );
    }
    const map: MapSpec = Object.freeze({
      over: Object.freeze(over),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.isolate === true ||
      options.itemsPerChild !== undefined ||
      options.workloadProfile !== undefined
        ? { isolate: true }
        : options.isolate === false
          ? { isolate: false }
          : {}),
      ...(options.itemsPerChild === undefined ? {} : { items_per_child: options.itemsPerChild }),
      ...(options.workloadProfile === undefined
        ? {}
        : { workload_profile: options.workloadProfile }),
      ...(options.toleratedFailureCount === undefined
        ? {}
        : { tolerated_failure_count: options.toleratedFailureCount }),
      ...(options.toleratedFailurePercentage === undefined
        ? {}
        : { tolerated_failure_percentage: options.toleratedFailurePercentage }),
    });
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

function validateDagOptions(name: string, options: unknown): DagOptions {
  if (options === undefined) return {};
  if (!isPlainObject(options)) {
    throw new DagDefinitionError(`DAG "${name}": options must be an object`);
  }
  const known = ["version", "description", "parameters", "maxParallelism", "tags", "oomPolicy"];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new DagDefinitionError(
        `DAG "${name}": unknown option ${JSON.stringify(key)}; allowed: ${known.join(", ")}`,
      );
    }
  }
  const o = options as DagOptions;
  if (
    o.version !== undefined &&
    (typeof o.version !== "string" || !VERSION_PATTERN.test(o.version))
  ) {
    throw new DagDefinitionError(
      `DAG "${name}": invalid version ${JSON.stringify(o.version)}; versions start with a letter ` +
        `or digit and contain only A-Z a-z 0-9 . _ + - (at most 128 characters)`,
    );
  }
  if (o.description !== undefined && typeof o.description !== "string") {
    throw new DagDefinitionError(`DAG "${name}": description must be a string`);
  }
  if (
    o.maxParallelism !== undefined &&
    (!Number.isInteger(o.maxParallelism) || o.maxParallelism < 1)
  ) {
    throw new DagDefinitionError(
      `DAG "${name}": maxParallelism must be an integer >= 1, got ${JSON.stringify(o.maxParallelism)}`,
    );
  }
  if (o.oomPolicy !== undefined && o.oomPolicy !== "fail" && o.oomPolicy !== "scale_up") {
    throw new DagDefinitionError(
      `DAG "${name}": oomPolicy must be "fail" or "scale_up", got ${JSON.stringify(o.oomPolicy)}`,
    );
  }
  if (o.tags !== undefined) {
    if (!isPlainObject(o.tags) || Object.values(o.tags).some((v) => typeof v !== "string")) {
      throw new DagDefinitionError(`DAG "${name}": tags must be an object of string values`);
    }
  }
  validateParameterDeclarations(name, o.parameters);
  return o;
}

/**
 * A DAG of task calls. Build one with `dag()`. The executor reads only `name`, `options` and
 * `nodes`, so a `Dag` made by another copy of the SDK (a flow bundle) runs as well.
 */
export class Dag {
  readonly [DAG_BRAND] = true;
  readonly version: string;

  /** @internal Use `dag()`. */
  constructor(
    readonly name: string,
    readonly options: DagOptions,
    readonly nodes: readonly TaskNode[],
  ) {
    this.version = options.version ?? DEFAULT_DAG_VERSION;
  }

  /** The node with this id, if any. */
  node(id: string): TaskNode | undefined {
    return this.nodes.find((n) => n.id === id);
  }

  /** `flow_spec.json`: the DAG without code, with every default spelled out. */
  toSpec(): FlowSpec {
    const parameters: FlowSpec["parameters"] = {};
    for (const [name, d] of Object.entries(this.options.parameters ?? {})) {
      parameters[name] = {
        ...(d.type === undefined ? {} : { type: d.type }),
        ...(d.description === undefined ? {} : { description: d.description }),
        ...(d.default === undefined ? {} : { default: d.default }),
        required: d.required ?? d.default === undefined,
      };
    }
    const edges: Array<[string, string]> = [];
    const tasks = this.nodes.map((node) => {
      for (const up of node.upstream) edges.push([up, node.id]);
      const input = specInput(this.name, node);
      return {
        id: node.id,
        task: node.task,
        upstream: [...node.upstream],
        options: {
          retries: node.options.retries,
          retry_delay_ms: node.options.retryDelayMs,
          backoff_factor: node.options.backoffFactor,
          max_retry_delay_ms: node.options.maxRetryDelayMs,
          ...(node.options.timeoutMs === undefined ? {} : { timeout_ms: node.options.timeoutMs }),
        },
        ...(input === undefined ? {} : { input }),
        ...(node.map === undefined ? {} : { map: { ...node.map, over: { ...node.map.over } } }),
      };
    });
    edges.sort(compareEdges);
    const o = this.options;
    return {
      spec_version: 1,
      name: this.name,
      version: this.version,
      ...(o.description === undefined ? {} : { description: o.description }),
      parameters,
      ...(o.maxParallelism === undefined ? {} : { max_parallelism: o.maxParallelism }),
      ...(o.tags === undefined ? {} : { tags: { ...o.tags } }),
      ...(o.oomPolicy === undefined ? {} : { oom_policy: o.oomPolicy }),
      tasks,
      edges,
    };
  }

  /** A Mermaid `flowchart` of the DAG (node labels are task ids, plus the task name if different). */
  toMermaid(): string {
    const key = new Map<string, string>();
    const lines = [`%% ${this.name} ${this.version}`, "flowchart TD"];
    this.nodes.forEach((node, i) => {
      key.set(node.id, `t${i}`);
      let label = node.id === node.task ? node.id : `${node.id} (${node.task})`;
      if (node.map !== undefined) label += " (map)";
      // Ids and task names only hold [A-Za-z0-9_.-], so the label needs no escaping.
      lines.push(`  t${i}["${label}"]`);
    });
    const edges: Array<[string, string]> = [];
    for (const node of this.nodes) for (const up of node.upstream) edges.push([up, node.id]);
    edges.sort(compareEdges);
    for (const [from, to] of edges) lines.push(`  ${key.get(from)} --> ${key.get(to)}`);
    return lines.join("\n") + "\n";
  }
}

function compareEdges(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/** The input as JSON: references become `{"$ref": id}`; other values follow JSON.stringify. */
function specInput(dagName: string, node: TaskNode): Json | undefined {
  try {
    const text = JSON.stringify(node.input);
    return text === undefined ? undefined : (JSON.parse(text) as Json);
  } catch (error) {
    throw new DagDefinitionError(
      `DAG "${dagName}", task "${node.id}": the input cannot be written to flow_spec.json as ` +
        `JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/**
 * Defines a DAG: runs `builder`, which calls tasks to add nodes, and returns the DAG.
 *
 * ```ts
 * export default dag("etl_pipeline", { version: "1.0.0", parameters: { source: {} } }, () => {
 *   const data = extract({ source: "{{ parameters.source }}" });
 *   load({ rows: transform(data) });
 * });
 * ```
 * The builder must be synchronous. Every DAG defined while `collectDags` runs is recorded.
 */
export function dag(name: string, options: DagOptions, builder: () => void): Dag {
  validateName("DAG", name);
  const validOptions = validateDagOptions(name, options);
  if (typeof builder !== "function") {
    throw new DagDefinitionError(`DAG "${name}": the third argument must be a builder function`);
  }
  const reg = registry();
  if (reg.building !== undefined) {
    throw new DagDefinitionError(
      `DAG "${name}" is defined inside the builder of DAG "${reg.building.dagName}"; ` +
        `dag() calls cannot be nested`,
    );
  }
  const declared = validOptions.parameters
    ? new Set(Object.keys(validOptions.parameters))
    : undefined;
  const state = new DagBuilder(name, declared);
  reg.building = state;
  try {
    const returned = builder() as unknown;
    if (
      typeof returned === "object" &&
      returned !== null &&
      typeof (returned as { then?: unknown }).then === "function"
    ) {
      throw new DagDefinitionError(
        `DAG "${name}": the builder returned a promise; it must be synchronous (tasks called ` +
          `after an await would not be part of the DAG)`,
      );
    }
  } finally {
    reg.building = undefined;
  }
  if (state.nodes.length === 0) {
    throw new DagDefinitionError(
      `DAG "${name}" has no tasks; call at least one task in its builder`,
    );
  }
  const nodes = Object.freeze(state.nodes.slice());
  const plan = buildPlan(nodes, state.index);
  if ("unknownUpstream" in plan) {
    const { node, upstream } = plan.unknownUpstream;
    throw new DagDefinitionError(`DAG "${name}", task "${node}": unknown upstream "${upstream}"`);
  }
  if ("cycle" in plan) {
    throw new DagDefinitionError(
      `DAG "${name}" has a cycle through tasks: ${plan.cycle.join(", ")}`,
    );
  }
  const frozenOptions = Object.freeze({ ...validOptions });
  const result = new Dag(name, frozenOptions, nodes);
  for (const collector of reg.collectors) collector.push(result);
  return result;
}

/**
 * Runs `load` (e.g. `require` of a flow bundle) and returns what it returned plus every DAG
 * defined meanwhile, by any copy of the SDK. `dagy build` uses it to check "exactly one DAG".
 */
export function collectDags<T>(load: () => T): { result: T; dags: Dag[] } {
  const reg = registry();
  const dags: Dag[] = [];
  reg.collectors.push(dags);
  try {
    const result = load();
    return { result, dags };
  } finally {
    const at = reg.collectors.lastIndexOf(dags);
    if (at >= 0) reg.collectors.splice(at, 1);
  }
}

/** True for a `Dag` from any copy of the SDK. */
export function isDag(value: unknown): value is Dag {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { [DAG_BRAND]?: unknown })[DAG_BRAND] === true
  );
}
