/**
 * Executor cost per task, define + run, side by side with p-graph (the JavaScript
 * promise-graph runner) in one process, plus bare promises as the floor.
 *
 * Shapes (the same for every runner):
 * - chain: 10,000 tasks, each taking the previous one's output.
 * - wide: 10,000 independent tasks plus one task joining all their outputs (10,001 tasks).
 * Work: every task is the same trivial async function; outputs flow from task to task (Dagy
 * through references; p-graph, which has no data passing, through a shared output table).
 * Parallelism 8 for both. Dagy runs with events on (a no-op `onEvent`), as the worker does;
 * p-graph emits no events. A measured run builds the graph from scratch (Dagy: `dag()` with
 * its validation — ids, cycles, foreign references; p-graph: node record, dependency list and
 * `new PGraph`, which checks cycles) and runs it. Each figure is the median of several runs
 * after warm-up; the runners alternate so machine load hits both alike.
 */
import { PGraph, type DependencyList, type PGraphNodeRecord } from "p-graph";
import { dag, runDag, task, type Dag, type TaskRef } from "../lib/sdk";

const TASKS = 10_000;
const PARALLELISM = 8;
const WARMUP_RUNS = 3;
const MEASURED_RUNS = 9;
/** Issue 14: define + run at least 3x faster than p-graph. */
const TARGET_RATIO = 3;

const work = async (input: unknown): Promise<unknown> => input;

const leaf = task("leaf", () => work(1));
const join = task("join", (inputs: unknown[]) => work(inputs.length));
const step = task("step", (input: unknown) => work(input));

function wideDag(): Dag {
  return dag("bench_wide", { maxParallelism: PARALLELISM }, () => {
    const refs: Array<TaskRef<unknown>> = [];
    for (let i = 0; i < TASKS; i++) refs.push(leaf());
    join(refs);
  });
}

function chainDag(): Dag {
  return dag("bench_chain", { maxParallelism: PARALLELISM }, () => {
    let previous: TaskRef<unknown> = step(0);
    for (let i = 1; i < TASKS; i++) previous = step(previous);
  });
}

const onEvent = (): void => {};

async function dagy(build: () => Dag): Promise<void> {
  const result = await runDag(build(), { onEvent });
  if (result.status !== "SUCCEEDED") throw new Error(`dagy run ${result.status}`);
}

async function pGraphChain(): Promise<void> {
  const outputs = new Map<string, unknown>();
  const nodes: PGraphNodeRecord = {};
  const dependencies: DependencyList = [];
  nodes["step"] = { run: async () => outputs.set("step", await work(0)) };
  let previous = "step";
  for (let i = 1; i < TASKS; i++) {
    const id = `step_${i + 1}`;
    const from = previous;
    nodes[id] = { run: async () => outputs.set(id, await work(outputs.get(from))) };
    dependencies.push([from, id]);
    previous = id;
  }
  await new PGraph(nodes, dependencies).run({ concurrency: PARALLELISM });
}

async function pGraphWide(): Promise<void> {
  const outputs = new Map<string, unknown>();
  const nodes: PGraphNodeRecord = {};
  const dependencies: DependencyList = [];
  const ids: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const id = i === 0 ? "leaf" : `leaf_${i + 1}`;
    ids.push(id);
    nodes[id] = { run: async () => outputs.set(id, await work(1)) };
    dependencies.push([id, "join"]);
  }
  nodes["join"] = {
    run: async () => outputs.set("join", await work(ids.map((id) => outputs.get(id)).length)),
  };
  await new PGraph(nodes, dependencies).run({ concurrency: PARALLELISM });
}

async function bareChain(): Promise<void> {
  let value: unknown = 0;
  for (let i = 0; i < TASKS; i++) value = await work(value);
}

async function bareWide(): Promise<void> {
  const outputs = new Array<unknown>(TASKS);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < TASKS) {
      const i = next++;
      outputs[i] = await work(1);
    }
  };
  await Promise.all(Array.from({ length: PARALLELISM }, worker));
  await work(outputs.length);
}

interface Timing {
  /** Wall-clock µs. */
  readonly wall: number;
  /** CPU µs of this process (user + system): less disturbed by other load on the machine. */
  readonly cpu: number;
}

function middle(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

async function timeOnce(fn: () => Promise<void>): Promise<Timing> {
  const startCpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await fn();
  const wall = Number(process.hrtime.bigint() - start) / 1000;
  const used = process.cpuUsage(startCpu);
  return { wall, cpu: used.user + used.system };
}

/** Runs the contenders in turn, `runs` rounds; the median of each. */
async function compare(
  runs: number,
  contenders: ReadonlyArray<() => Promise<void>>,
): Promise<Timing[]> {
  const samples = contenders.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  for (let r = 0; r < runs; r++) {
    for (let c = 0; c < contenders.length; c++) {
      const t = await timeOnce(contenders[c]!);
      samples[c]!.wall.push(t.wall);
      samples[c]!.cpu.push(t.cpu);
    }
  }
  return samples.map((s) => ({ wall: middle(s.wall), cpu: middle(s.cpu) }));
}

async function measure(
  label: string,
  tasks: number,
  ours: () => Promise<void>,
  peer: () => Promise<void>,
  bare: () => Promise<void>,
): Promise<Record<keyof Timing, { ours: number; peer: number }>> {
  await compare(WARMUP_RUNS, [ours, peer, bare]);
  const [o, p, b] = await compare(MEASURED_RUNS, [ours, peer, bare]);
  for (const kind of ["wall", "cpu"] as const) {
    const oursUs = o![kind] / tasks;
    const peerUs = p![kind] / tasks;
    const bareUs = b![kind] / tasks;
    const ratio = peerUs / oursUs;
    console.log(
      `${label.padEnd(5)} ${kind.padEnd(4)} tasks=${tasks}  dagy ${oursUs.toFixed(2)} µs/task  ` +
        `p-graph ${peerUs.toFixed(2)} µs/task  dagy is ${ratio.toFixed(1)}x faster  ` +
        `(target >= ${TARGET_RATIO}x: ${ratio >= TARGET_RATIO ? "met" : "NOT met"})  ` +
        `bare promises ${bareUs.toFixed(2)} µs/task`,
    );
  }
  return {
    wall: { ours: o!.wall / tasks, peer: p!.wall / tasks },
    cpu: { ours: o!.cpu / tasks, peer: p!.cpu / tasks },
  };
}

export async function main(): Promise<void> {
  console.log(
    `executor: define + run ${TASKS} trivial async tasks, parallelism ${PARALLELISM}, ` +
      `median of ${MEASURED_RUNS} alternating runs after ${WARMUP_RUNS} warm-up; ` +
      `dagy with events on (no-op onEvent) vs p-graph; bare promises = no graph at all`,
  );
  const chain = await measure("chain", TASKS, () => dagy(chainDag), pGraphChain, bareChain);
  const wide = await measure("wide", TASKS + 1, () => dagy(wideDag), pGraphWide, bareWide);
  for (const kind of ["cpu", "wall"] as const) {
    const ours = (chain[kind].ours + wide[kind].ours) / 2;
    const peer = (chain[kind].peer + wide[kind].peer) / 2;
    console.log(
      `both shapes (${kind}, mean of the two): dagy ${ours.toFixed(2)} µs/task, p-graph ` +
        `${peer.toFixed(2)} µs/task, ratio ${(peer / ours).toFixed(1)}x`,
    );
  }
  // Definition alone, to show where the time goes.
  const defineStart = process.cpuUsage();
  for (let i = 0; i < MEASURED_RUNS; i++) wideDag();
  const used = process.cpuUsage(defineStart);
  const defineUs = (used.user + used.system) / MEASURED_RUNS;
  console.log(`of which define (wide, warm, cpu): ${(defineUs / (TASKS + 1)).toFixed(2)} µs/task`);
}

if (require.main === module) void main();
