import { DagDefinitionError } from "../errors";
import { DagBuilder, type TaskNode } from "./builder";
import { validateDagOptions } from "./dag-options";
import { flowSpecOf, mermaidOf } from "./flow-spec";
import { validateName } from "./options";
import { buildPlan } from "./plan";
import { DAG_BRAND, registry } from "./registry";
import type { DagOptions, FlowSpec } from "./types";

export type { TaskNode } from "./builder";

/** Default of `DagOptions.version`. */
export const DEFAULT_DAG_VERSION = "0.0.0";

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
    return flowSpecOf(this);
  }

  /** A Mermaid `flowchart` of the DAG (node labels are task ids, plus the task name if different). */
  toMermaid(): string {
    return mermaidOf(this);
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
