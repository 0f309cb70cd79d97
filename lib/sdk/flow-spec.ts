import { DagDefinitionError } from "../errors";
import type { TaskNode } from "./builder";
import type { DagOptions, FlowSpec, Json } from "./types";

/** What the writers below read of a `Dag`. */
interface DagShape {
  readonly name: string;
  readonly version: string;
  readonly options: DagOptions;
  readonly nodes: readonly TaskNode[];
}

/** `flow_spec.json`: the DAG without code, with every default spelled out. */
export function flowSpecOf(dag: DagShape): FlowSpec {
  const parameters: FlowSpec["parameters"] = {};
  for (const [name, d] of Object.entries(dag.options.parameters ?? {})) {
    parameters[name] = {
      ...(d.type === undefined ? {} : { type: d.type }),
      ...(d.description === undefined ? {} : { description: d.description }),
      ...(d.default === undefined ? {} : { default: d.default }),
      required: d.required ?? d.default === undefined,
    };
  }
  const edges: Array<[string, string]> = [];
  const tasks = dag.nodes.map((node) => {
    for (const up of node.upstream) edges.push([up, node.id]);
    const input = specInput(dag.name, node);
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
  const o = dag.options;
  return {
    spec_version: 1,
    name: dag.name,
    version: dag.version,
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
export function mermaidOf(dag: DagShape): string {
  const key = new Map<string, string>();
  const lines = [`%% ${dag.name} ${dag.version}`, "flowchart TD"];
  dag.nodes.forEach((node, i) => {
    key.set(node.id, `t${i}`);
    let label = node.id === node.task ? node.id : `${node.id} (${node.task})`;
    if (node.map !== undefined) label += " (map)";
    // Ids and task names only hold [A-Za-z0-9_.-], so the label needs no escaping.
    lines.push(`  t${i}["${label}"]`);
  });
  const edges: Array<[string, string]> = [];
  for (const node of dag.nodes) for (const up of node.upstream) edges.push([up, node.id]);
  edges.sort(compareEdges);
  for (const [from, to] of edges) lines.push(`  ${key.get(from)} --> ${key.get(to)}`);
  return lines.join("\n") + "\n";
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
