/**
 * The graph of a DAG as integer arrays, built once per node list and shared by `dag()` (which
 * checks it for cycles) and the executor (which schedules with it). Adjacency is in compressed
 * form (one offsets array, one targets array): two allocations per DAG, not one array per node.
 */
import type { TaskNode } from "./builder";

export interface Plan {
  /** Number of upstream tasks of each node. */
  readonly upstreamCount: Int32Array;
  /** Downstream nodes of node i: `downstream[downstreamStart[i]] … [downstreamStart[i + 1] - 1]`. */
  readonly downstreamStart: Int32Array;
  readonly downstream: Int32Array;
}

export type PlanOutcome =
  | Plan
  | { readonly unknownUpstream: { readonly node: string; readonly upstream: string } }
  | { readonly cycle: readonly string[] };

/** Plans of the node lists this copy of the SDK defined; another copy's nodes are planned anew. */
const plans = new WeakMap<readonly TaskNode[], Plan>();

/**
 * The plan of `nodes`, or why there is none. `index` (id -> position), when the caller already
 * has it, saves building it again.
 */
export function buildPlan(
  nodes: readonly TaskNode[],
  index?: ReadonlyMap<string, number>,
): PlanOutcome {
  const cached = plans.get(nodes);
  if (cached !== undefined) return cached;
  const n = nodes.length;
  if (index === undefined) {
    const built = new Map<string, number>();
    for (let i = 0; i < n; i++) built.set(nodes[i]!.id, i);
    index = built;
  }
  let edges = 0;
  for (let i = 0; i < n; i++) edges += nodes[i]!.upstream.length;
  const upstreamCount = new Int32Array(n);
  const from = new Int32Array(edges);
  const outDegree = new Int32Array(n + 1);
  // Every upstream before its node means the list is a topological order: no cycle.
  let ordered = true;
  let e = 0;
  for (let i = 0; i < n; i++) {
    const upstream = nodes[i]!.upstream;
    upstreamCount[i] = upstream.length;
    for (let k = 0; k < upstream.length; k++) {
      const j = index.get(upstream[k]!);
      if (j === undefined) {
        return { unknownUpstream: { node: nodes[i]!.id, upstream: upstream[k]! } };
      }
      if (j >= i) ordered = false;
      from[e++] = j;
      outDegree[j]!++;
    }
  }
  const downstreamStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) downstreamStart[i + 1] = downstreamStart[i]! + outDegree[i]!;
  const fill = downstreamStart.slice(0, n);
  const downstream = new Int32Array(edges);
  e = 0;
  for (let i = 0; i < n; i++) {
    const count = upstreamCount[i]!;
    for (let k = 0; k < count; k++) downstream[fill[from[e++]!]!++] = i;
  }
  const plan: Plan = { upstreamCount, downstreamStart, downstream };
  if (!ordered) {
    const cycle = findCycle(nodes, plan);
    if (cycle !== undefined) return { cycle };
  }
  plans.set(nodes, plan);
  return plan;
}

/** Kahn's algorithm: the nodes left with upstream tasks once no more can start, if any. */
function findCycle(nodes: readonly TaskNode[], plan: Plan): string[] | undefined {
  const n = nodes.length;
  const indegree = plan.upstreamCount.slice();
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) queue.push(i);
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head]!;
    for (let k = plan.downstreamStart[i]!; k < plan.downstreamStart[i + 1]!; k++) {
      const j = plan.downstream[k]!;
      if (--indegree[j]! === 0) queue.push(j);
    }
  }
  if (queue.length === n) return undefined;
  return nodes.filter((_, i) => indegree[i]! > 0).map((node) => node.id);
}
