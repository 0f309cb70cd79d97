/**
 * A flow's DAG as SVG, laid out by dagre (no hand-written layout). The layout depends only on the
 * graph's shape, so it is computed once per shape and live updates only recolour and relabel
 * nodes. Each node says its state in text and symbol, not only in colour, and is a keyboard
 * stop: Enter or Space selects the task (the run page filters its log by it).
 */
import { graphlib, layout } from "@dagrejs/dagre";
import { useMemo } from "preact/hooks";
import type { MapSummary, TaskState } from "./api";
import { formatDuration } from "./format";
import { STATUS_SYMBOL, statusClass, type AnyStatus } from "./status";

export interface DagTask {
  readonly id: string;
  readonly upstream: readonly string[];
  /** Second line when there are no states (a flow's definition), e.g. the task function. */
  readonly detail?: string;
  /** A mapped task (`task.map(list)`): drawn as one node with its item counts. */
  readonly mapped?: boolean;
}

interface Positioned {
  readonly width: number;
  readonly height: number;
  readonly nodes: ReadonlyArray<{ id: string; x: number; y: number }>;
  readonly edges: ReadonlyArray<{ from: string; to: string; d: string }>;
}

const NODE_WIDTH = 176;
const NODE_HEIGHT = 46;
const MAX_LABEL = 22;

export function layoutDag(tasks: readonly DagTask[]): Positioned {
  const g = new graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 48, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(tasks.map((t) => t.id));
  for (const task of tasks) g.setNode(task.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const task of tasks) {
    for (const up of task.upstream) if (ids.has(up)) g.setEdge(up, task.id);
  }
  layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  const nodes = tasks.map((t) => {
    const n = g.node(t.id) as { x: number; y: number };
    return { id: t.id, x: n.x, y: n.y };
  });
  const edges = g.edges().map((e) => {
    const points = (g.edge(e) as { points?: Array<{ x: number; y: number }> }).points ?? [];
    const d = points
      .map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`)
      .join(" ");
    return { from: e.v, to: e.w, d };
  });
  return { width: graph.width ?? 0, height: graph.height ?? 0, nodes, edges };
}

const truncate = (text: string) =>
  text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;

/** `180/200 ✓ 3 ✗ 17 ▶`: succeeded of all, then failed and running when there are any. */
export function mapCounts(map: MapSummary): string {
  return [
    `${map.succeeded}/${map.total} ${STATUS_SYMBOL.SUCCEEDED}`,
    map.failed > 0 ? `${map.failed} ${STATUS_SYMBOL.FAILED}` : "",
    map.running > 0 ? `${map.running} ${STATUS_SYMBOL.RUNNING}` : "",
  ]
    .filter(Boolean)
    .join(" ");
}

/** The same in words, for screen readers. */
export function mapCountsText(map: MapSummary): string {
  return (
    `${map.succeeded} of ${map.total} items succeeded, ${map.failed} failed, ` +
    `${map.running} running, ${map.pending} pending` +
    (map.skipped + map.cancelled > 0 ? `, ${map.skipped + map.cancelled} not run` : "")
  );
}

/** A thin bar along the node's bottom edge: succeeded, then failed, out of every item. */
function MapProgress({ map }: { readonly map: MapSummary }) {
  const inner = NODE_WIDTH - 20;
  const ok = map.total === 0 ? inner : (map.succeeded / map.total) * inner;
  // A failure stays visible however many items succeeded.
  const bad = map.failed === 0 ? 0 : Math.max((map.failed / map.total) * inner, 3);
  return (
    <g class="map-progress" transform={`translate(10,${NODE_HEIGHT - 9})`} aria-hidden="true">
      <rect class="map-progress-track" width={inner} height="4" rx="2" />
      <rect class="map-progress-ok" width={Math.min(ok, inner - bad)} height="4" />
      {bad > 0 && (
        <rect class="map-progress-failed" x={Math.min(ok, inner - bad)} width={bad} height="4" />
      )}
    </g>
  );
}

export interface DagViewProps {
  readonly tasks: readonly DagTask[];
  /** Absent: a flow's definition, drawn without states. */
  readonly states?: Readonly<Record<string, TaskState>>;
  readonly selected?: string | undefined;
  readonly onSelect?: (taskId: string | undefined) => void;
  readonly label: string;
}

export function DagView({ tasks, states, selected, onSelect, label }: DagViewProps) {
  const shape = tasks.map((t) => `${t.id}<${t.upstream.join(",")}`).join(";");
  // Keyed by shape: state updates arrive as new arrays of the same tasks.
  const positioned = useMemo(() => layoutDag(tasks), [shape]);
  const details = new Map(tasks.map((t) => [t.id, t.detail]));
  const mapped = new Set(tasks.filter((t) => t.mapped).map((t) => t.id));
  const select = (id: string) => onSelect?.(selected === id ? undefined : id);
  return (
    <div class="dag-scroll">
      <svg
        class="dag"
        role="group"
        aria-label={label}
        width={positioned.width}
        height={positioned.height}
        viewBox={`0 0 ${positioned.width} ${positioned.height}`}
        data-task-count={tasks.length}
      >
        <defs>
          <marker
            id="dag-arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L10,5 L0,10 z" class="dag-arrow" />
          </marker>
        </defs>
        <g aria-hidden="true">
          {positioned.edges.map((e) => (
            <path
              key={`${e.from}->${e.to}`}
              d={e.d}
              class="dag-edge"
              marker-end="url(#dag-arrow)"
            />
          ))}
        </g>
        {positioned.nodes.map((n) => {
          const state = states?.[n.id];
          const status: AnyStatus | undefined = states ? (state?.status ?? "PENDING") : undefined;
          const attempts = state?.attempts ?? 0;
          const map = state?.map;
          const detail =
            status && map
              ? mapCounts(map)
              : status
                ? `${STATUS_SYMBOL[status]} ${status}${attempts > 1 ? ` · try ${attempts}` : ""}${
                    state?.duration_ms !== undefined
                      ? ` · ${formatDuration(state.duration_ms)}`
                      : ""
                  }`
                : (details.get(n.id) ?? "task");
          const isSelected = selected === n.id;
          return (
            <g
              key={n.id}
              class={`dag-node ${status ? statusClass(status) : "status-none"}${isSelected ? " selected" : ""}`}
              transform={`translate(${n.x - NODE_WIDTH / 2},${n.y - NODE_HEIGHT / 2})`}
              data-task-id={n.id}
              data-status={status ?? ""}
              {...(onSelect
                ? {
                    tabindex: 0,
                    role: "button",
                    "aria-pressed": isSelected,
                    onClick: () => select(n.id),
                    onKeyDown: (event: KeyboardEvent) => {
                      if (event.key === "Enter" || event.key === " ") {
                        event.preventDefault();
                        select(n.id);
                      }
                    },
                  }
                : { role: "img" })}
              {...(mapped.has(n.id) || map ? { "data-mapped": "" } : {})}
              aria-label={`${n.id}${mapped.has(n.id) || map ? " (mapped)" : ""}: ${status ?? "task"}${
                map ? `, ${mapCountsText(map)}` : attempts > 1 ? `, attempt ${attempts}` : ""
              }`}
            >
              <title>{`${n.id}${status ? ` — ${status}` : ""}${state?.error ? `: ${state.error}` : ""}`}</title>
              <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="6" />
              <text x="10" y="19" class="dag-label">
                {truncate(mapped.has(n.id) || map ? `${n.id}[ ]` : n.id)}
              </text>
              <text x="10" y={map ? 32 : 36} class="dag-state">
                {detail}
              </text>
              {map && <MapProgress map={map} />}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
