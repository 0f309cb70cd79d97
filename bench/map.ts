/**
 * In-worker `task.map` of 10,000 items versus the same work as a static DAG of 10,000 tasks,
 * in one process, through the same executor.
 *
 * - map: `discover` returns 10,000 numbers, `square.map(list)` runs one instance per item,
 *   `collect` receives the 10,000 outputs.
 * - static: 10,000 `square(i)` nodes written in the builder, `collect` receives their outputs.
 * Same trivial async work per item, parallelism 8, events on (a no-op `onEvent`, as the worker
 * has). Figures per item: define + run (what a flow costs end to end) and run alone. Median of
 * several alternating runs after warm-up.
 */
import { dag, runDag, task, type Dag, type TaskRef } from "../lib/sdk";

const ITEMS = 10_000;
const PARALLELISM = 8;
const WARMUP_RUNS = 3;
const MEASURED_RUNS = 21;

const work = async (n: number): Promise<number> => n * n;
const numbers = Array.from({ length: ITEMS }, (_, i) => i);

const discover = task("discover", () => numbers);
const square = task("square", (n: number) => work(n));
const collect = task("collect", (xs: number[]) => xs.length);

function mapDag(): Dag {
  return dag("bench_map", { maxParallelism: PARALLELISM }, () => {
    collect(square.map(discover()));
  });
}

function staticDag(): Dag {
  return dag("bench_static", { maxParallelism: PARALLELISM }, () => {
    const refs: Array<TaskRef<number>> = [];
    for (let i = 0; i < ITEMS; i++) refs.push(square(i));
    collect(refs);
  });
}

const onEvent = (): void => {};

async function run(graph: Dag): Promise<void> {
  const result = await runDag(graph, { onEvent });
  if (result.status !== "SUCCEEDED" || result.outputs["collect"] !== ITEMS) {
    throw new Error(`${graph.name}: run ${result.status}`);
  }
}

function middle(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/** CPU µs of this process (user + system): less disturbed by other load than wall time. */
async function cpuTime(fn: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

export async function main(): Promise<void> {
  console.log(
    `map: ${ITEMS} items through task.map vs a static DAG of ${ITEMS} tasks, same work, ` +
      `parallelism ${PARALLELISM}, events on; CPU µs per item, median of ${MEASURED_RUNS} ` +
      `alternating runs after ${WARMUP_RUNS} warm-up`,
  );
  const builtMap = mapDag();
  const builtStatic = staticDag();
  const contenders: Array<[string, () => Promise<void>]> = [
    ["map define+run", () => run(mapDag())],
    ["static define+run", () => run(staticDag())],
    ["map run", () => run(builtMap)],
    ["static run", () => run(builtStatic)],
  ];
  const samples = contenders.map(() => [] as number[]);
  for (let r = 0; r < WARMUP_RUNS + MEASURED_RUNS; r++) {
    for (let c = 0; c < contenders.length; c++) {
      const us = await cpuTime(contenders[c]![1]);
      if (r >= WARMUP_RUNS) samples[c]!.push(us / ITEMS);
    }
  }
  const [mapBoth, staticBoth, mapRun, staticRun] = samples.map(middle) as [
    number,
    number,
    number,
    number,
  ];
  console.log(
    `define + run: map ${mapBoth.toFixed(2)} µs/item, static ${staticBoth.toFixed(2)} µs/task ` +
      `(map/static ${(mapBoth / staticBoth).toFixed(2)})`,
  );
  console.log(
    `run only:     map ${mapRun.toFixed(2)} µs/item, static ${staticRun.toFixed(2)} µs/task ` +
      `(map/static ${(mapRun / staticRun).toFixed(2)})`,
  );
}

if (require.main === module) void main();
