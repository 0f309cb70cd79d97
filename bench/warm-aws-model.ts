/**
 * AWS: launch -> first task with a warm pool worker vs a cold Fargate task (issue #14), as a
 * model built from what can be measured here and what AWS documents. Nothing here calls AWS.
 *
 * Measured locally (dynalite + s3rver, this machine), median of RUNS:
 * - cold worker: `node worker.js` (as the image runs it, no code cache), process start -> first
 *   task started, from the worker's DAGY_WORKER_TIMINGS line;
 * - warm worker: the part of the same timings after `main` — fetch the artifact, claim the run,
 *   load the flow, start the first task. A warm worker has already paid node + bundle load and
 *   client creation before its assignment arrives; what is left is exactly this.
 * - the launcher's pool reservation (one conditional UpdateItem) against dynalite.
 *
 * Modelled (not measurable without AWS; figures and sources printed with the result):
 * - Fargate RunTask -> container started: 30-60 s (the range; AWS publishes no start
 *   time, and attributes most of it to the image pull);
 * - RunTask API call, SQS SendMessage, SQS delivery to a waiting long poll, DynamoDB latency.
 *
 *   npx tsx bench/warm-aws-model.ts
 */
import { execFile } from "node:child_process";
import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { WarmPoolRepository } from "../lib/persistence/warm-pools";
import { setUpEtlWorkerBench } from "./support/etl-worker";

const RUNS = 7;

/** Modelled figures (ms), each with where it comes from. */
const MODEL = {
  fargateStartLowMs: 30_000,
  fargateStartHighMs: 60_000,
  fargateStartSource:
    "issue #14's 30-60 s for a new Fargate task; AWS publishes no start-time figure, and its SOCI launch post (aws.amazon.com/blogs/aws/aws-fargate-enables-faster-container-startup-using-seekable-oci) attributes ~76% of container start-up to the image download",
  runTaskCallMs: 300,
  runTaskCallSource: "assumption: one ECS RunTask API round trip (not published by AWS)",
  dynamoWriteMs: 10,
  dynamoWriteSource:
    "assumption: one conditional UpdateItem in-region; AWS describes DynamoDB as single-digit-millisecond",
  sqsSendMs: 15,
  sqsSendSource: "assumption: one SQS SendMessage round trip in-region (not published by AWS)",
  sqsDeliveryMs: 50,
  sqsDeliverySource:
    "assumption: a message reaches a ReceiveMessage already waiting (WaitTimeSeconds 20); AWS documents that long polling returns as soon as a message is available, not how fast",
} as const;

interface Timings {
  readonly main: number;
  readonly first_task_started: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function run(file: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { env }, (error, stdout) => {
      if (error && child.exitCode !== 0) reject(new Error(`${error.message}\n${stdout}`));
      else resolve(stdout);
    });
  });
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export async function main(): Promise<void> {
  const bench = await setUpEtlWorkerBench("dagy-bench-warm");
  const { bundle, clients } = bench;
  try {
    const samples: Timings[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const runId = `bench-warm-${Date.now()}-${i}`;
      const stdout = await run(process.execPath, [bundle.file], await bench.queueRun(runId));
      const line = stdout.split("\n").find((l) => l.includes('"event_type":"worker_timings"'));
      if (line === undefined) throw new Error("the worker wrote no worker_timings line");
      if (i > 0) samples.push(JSON.parse(line) as Timings); // the first run warms file caches
    }

    // The launcher's reservation: one conditional UpdateItem on the pool table.
    const poolTable = "dagy-bench-warm-pools";
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: poolTable,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pool", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pool", KeyType: "HASH" }],
      }),
    );
    while (
      (await clients.dynamodb.send(new DescribeTableCommand({ TableName: poolTable }))).Table
        ?.TableStatus !== "ACTIVE"
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const pools = new WarmPoolRepository(clients.doc, poolTable);
    const reservations: number[] = [];
    for (let i = 0; i < 50; i++) {
      await pools.addIdle("small");
      const started = performance.now();
      await pools.reserve("small");
      reservations.push(performance.now() - started);
    }

    const coldProcess = median(samples.map((t) => t.first_task_started));
    const warmAfterAssignment = median(samples.map((t) => t.first_task_started - t.main));
    const reserve = median(reservations);
    const warmTotal =
      MODEL.dynamoWriteMs + 2 * MODEL.sqsSendMs + MODEL.sqsDeliveryMs + warmAfterAssignment;
    const coldLow = MODEL.runTaskCallMs + MODEL.fargateStartLowMs + coldProcess;
    const coldHigh = MODEL.runTaskCallMs + MODEL.fargateStartHighMs + coldProcess;

    console.log(`launch -> first task on AWS, ETL example flow (${RUNS} local runs, median):`);
    console.log("measured here (dynalite + s3rver; real S3/DynamoDB add network latency):");
    console.log(
      `  cold worker process start -> first task (node worker.js)   ${coldProcess.toFixed(1)} ms`,
    );
    console.log(
      `  warm worker, assignment in hand -> first task              ${warmAfterAssignment.toFixed(1)} ms  (fetch + claim + load + start)`,
    );
    console.log(
      `  pool reservation (conditional UpdateItem, dynalite)        ${reserve.toFixed(1)} ms`,
    );
    console.log("modelled:");
    for (const [label, ms, source] of [
      [
        "Fargate RunTask -> container running",
        `${seconds(MODEL.fargateStartLowMs)}-${seconds(MODEL.fargateStartHighMs)}`,
        MODEL.fargateStartSource,
      ],
      ["RunTask API call", `${MODEL.runTaskCallMs} ms`, MODEL.runTaskCallSource],
      ["pool reservation in DynamoDB", `${MODEL.dynamoWriteMs} ms`, MODEL.dynamoWriteSource],
      ["SQS SendMessage (fallback + assignment)", `2 x ${MODEL.sqsSendMs} ms`, MODEL.sqsSendSource],
      ["SQS delivery to a waiting long poll", `${MODEL.sqsDeliveryMs} ms`, MODEL.sqsDeliverySource],
    ] as const) {
      console.log(`  ${label.padEnd(42)} ${ms.padEnd(16)} ${source}`);
    }
    console.log("result (launcher's submit -> first task started):");
    console.log(
      `  warm pool worker   ${seconds(warmTotal)}   = reservation + 2 sends + delivery (modelled) + ${warmAfterAssignment.toFixed(0)} ms (measured)`,
    );
    console.log(
      `  cold Fargate task  ${seconds(coldLow)}-${seconds(coldHigh)}   = RunTask + Fargate start (modelled) + ${coldProcess.toFixed(0)} ms (measured)`,
    );
    console.log(
      `  saving per warm start: ${seconds(coldLow - warmTotal)}-${seconds(coldHigh - warmTotal)} (${(coldLow / warmTotal).toFixed(0)}x-${(coldHigh / warmTotal).toFixed(0)}x faster)`,
    );
  } finally {
    await bench.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
