/**
 * Executor overhead per task: 10,000 no-op tasks through `runDag` versus the same shape run
 * with bare promises in the same process.
 *
 * Shapes:
 * - wide: 10,000 independent tasks plus one task joining them all (10,001 tasks), parallelism 8;
 *   baseline: 8 async workers pulling from a shared index (Promise.all), then the join.
 * - chain: 10,000 tasks, each taking the previous one's output; baseline: sequential awaits.
 * Events are ON: `onEvent` is a no-op function, so every event object is built and delivered.
 * Each figure is the median of several runs after warm-up.
 */
import { dag, runDag, task, type Dag, type TaskRef } from "../lib/sdk";

const TASKS = 10_000;
const PARALLELISM = 8;
const WARMUP_RUNS = 3;
const MEASURED_RUNS = 9;

const noop = async (input: unknown): Promise<unknown> => input;

function wideDag(): Dag {
  const leaf = task("leaf", (_: undefined) => noop(1));
  const join = task("join", (inputs: unknown[]) => noop(inputs.length));
  return dag("bench_wide", { maxParallelism: PARALLELISM }, () => {
    const refs: Array<TaskRef<unknown>> = [];
    for (let i = 0; i < TASKS; i++) refs.push(leaf());
    // The join's input is a 10,000-element array of references, resolved at run time.
    join(refs);
  });
}

function chainDag(): Dag {
  const step = task("step", (input: unknown) => noop(input));
  return dag("bench_chain", { maxParallelism: PARALLELISM }, () => {
    let previous: TaskRef<unknown> = step(0);
    for (let i = 1; i < TASKS; i++) previous = step(previous);
  });
}

async function baselineWide(): Promise<void> {
  const outputs = new Array<unknown>(TASKS);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < TASKS) {
      const i = next++;
      outputs[i] = await noop(1);
    }
  };
  await Promise.all(Array.from({ length: PARALLELISM }, worker));
  await noop(outputs.length);
}

async function baselineChain(): Promise<void> {
  let value: unknown = 0;
  for (let i = 0; i < TASKS; i++) value = await noop(value);
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

async function median(runs: number, fn: () => Promise<void>): Promise<Timing> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const startCpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    await fn();
    wall.push(Number(process.hrtime.bigint() - start) / 1000);
    const used = process.cpuUsage(startCpu);
    cpu.push(used.user + used.system);
  }
  return { wall: middle(wall), cpu: middle(cpu) };
}

function line(
  label: string,
  tasks: number,
  kind: keyof Timing,
  dagy: Timing,
  base: Timing,
): string {
  const dagyUs = dagy[kind] / tasks;
  const baseUs = base[kind] / tasks;
  const overhead = dagyUs - baseUs;
  return (
    `${label.padEnd(6)} ${kind.padEnd(4)} tasks=${tasks}  dagy ${dagyUs.toFixed(2)} µs/task  ` +
    `baseline ${baseUs.toFixed(2)} µs/task  overhead ${overhead.toFixed(2)} µs/task  ` +
    `ratio ${(dagyUs / baseUs).toFixed(1)}x  ` +
    `(target: overhead < 20 µs/task; ${overhead < 20 ? "met" : "NOT met"})`
  );
}

async function measure(
  label: string,
  tasks: number,
  build: () => Dag,
  baseline: () => Promise<void>,
): Promise<void> {
  const graph = build();
  const onEvent = (): void => {};
  const dagy = async (): Promise<void> => {
    const result = await runDag(graph, { onEvent });
    if (result.status !== "SUCCEEDED") throw new Error(`${label}: run ${result.status}`);
  };
  await median(WARMUP_RUNS, dagy);
  await median(WARMUP_RUNS, baseline);
  const dagyTiming = await median(MEASURED_RUNS, dagy);
  const baseTiming = await median(MEASURED_RUNS, baseline);
  console.log(line(label, tasks, "wall", dagyTiming, baseTiming));
  console.log(line(label, tasks, "cpu", dagyTiming, baseTiming));
}

export async function main(): Promise<void> {
  console.log(
    `executor: ${TASKS} no-op tasks, events on (no-op onEvent), parallelism ${PARALLELISM}, ` +
      `median of ${MEASURED_RUNS} runs after ${WARMUP_RUNS} warm-up; baseline = bare promises`,
  );
  const definitionStart = process.hrtime.bigint();
  wideDag();
  const definitionUs = Number(process.hrtime.bigint() - definitionStart) / 1000 / (TASKS + 1);
  console.log(`define wide DAG: ${definitionUs.toFixed(2)} µs/task (cold, one run)`);
  await measure("wide", TASKS + 1, wideDag, baselineWide);
  await measure("chain", TASKS, chainDag, baselineChain);
}

if (require.main === module) void main();
