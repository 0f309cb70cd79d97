/**
 * Launch throughput: `launchBatch` of 1,000 requests against dynalite and an ECS mock that
 * throttles RunTask above a fixed rate (token bucket). Reports launches/s against that ceiling,
 * proves no run is lost or duplicated, and counts DynamoDB / S3 / ECS calls per launch.
 *
 * The backoff base is shortened (20 ms instead of 200 ms) so the benchmark measures the
 * ceiling rather than our sleep; production keeps the longer base to spread real herds.
 */
import { ECSClient, RunTaskCommand, type RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { createDataClients, destroyDataClients, type DataClients } from "../lib/aws/clients";
import { sha256Hex } from "../lib/hash";
import { DagLauncher, type DagLaunchResult } from "../lib/launcher";
import { ensureBuckets, ensureTables, startLocalServers } from "../lib/local/servers";
import { Persistence } from "../lib/persistence/persistence";
import type { RunRecord } from "../lib/persistence/records";
import { tableNamesFor } from "../lib/persistence/schema";
import { ObjectStore } from "../lib/storage/object-store";

const RUNS = 1000;
/**
 * The mock's RunTask ceiling (sustained) and burst: a fixed yardstick, not AWS's figure. It sits
 * below what in-process dynalite sustains on a small machine (~20 launches/s on 2 cores: every
 * dynalite request costs ~10 ms of CPU in this same process), so the ECS ceiling is what binds
 * and throttling is exercised. Override with DAGY_BENCH_ECS_CEILING.
 */
const CEILING_PER_SECOND = Number(process.env.DAGY_BENCH_ECS_CEILING ?? "15");
const BURST = 5;
const ORG = "bench-org";

class TokenBucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
  ) {
    this.tokens = capacity;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(
      this.capacity,
      this.tokens + ((now - this.last) / 1000) * this.ratePerSecond,
    );
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Counts SDK calls by command name through the client's middleware stack. */
function countCalls(
  client: DataClients["dynamodb"] | DataClients["s3"],
  counts: Map<string, number>,
): void {
  const stack = client.middlewareStack as DataClients["dynamodb"]["middlewareStack"];
  stack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? "unknown";
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: "initialize", name: "benchCallCounter" },
  );
}

function perLaunch(counts: Map<string, number>, launches: number): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const detail = [...counts.entries()]
    .sort()
    .map(([name, n]) => `${name.replace(/Command$/, "")} ${(n / launches).toFixed(2)}`)
    .join(", ");
  return `${(total / launches).toFixed(2)}${detail ? ` (${detail})` : ""}`;
}

interface Round {
  readonly concurrency: number;
  readonly results: DagLaunchResult[];
  readonly seconds: number;
  readonly dynamo: Map<string, number>;
  readonly s3: Map<string, number>;
  readonly runTaskAttempts: number;
  readonly throttled: number;
  readonly successesByToken: Map<string, number>;
}

async function round(
  concurrency: number,
  shared: Awaited<ReturnType<typeof setUp>>,
): Promise<Round> {
  const { clients, tables, buckets } = shared;
  const dynamo = new Map<string, number>();
  const s3 = new Map<string, number>();
  countCalls(clients.dynamodb, dynamo);
  countCalls(clients.s3, s3);

  const ecs = new ECSClient({ region: "us-east-1" });
  const ecsMock = mockClient(ecs);
  const bucket = new TokenBucket(CEILING_PER_SECOND, BURST);
  const successesByToken = new Map<string, number>();
  let throttled = 0;
  ecsMock.on(RunTaskCommand).callsFake((input: RunTaskCommandInput) => {
    if (!bucket.take()) {
      throttled++;
      throw Object.assign(new Error("Rate exceeded"), {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400 },
      });
    }
    const token = input.clientToken ?? "";
    successesByToken.set(token, (successesByToken.get(token) ?? 0) + 1);
    return { tasks: [{ taskArn: `arn:aws:ecs:us-east-1:123456789012:task/dagy/${token}` }] };
  });

  const launcher = new DagLauncher(
    {
      clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
      subnets: ["subnet-1"],
      securityGroups: ["sg-1"],
      taskDefinition: "dagy-worker",
      artifactBucket: buckets.artifacts,
      tracesBucket: buckets.traces,
      tables,
      region: "us-east-1",
      ecs: { throttleRetry: { baseDelayMs: 20, maxDelayMs: 1000, maxAttempts: 100 } },
    },
    {
      persistence: new Persistence(clients.doc, tables),
      store: new ObjectStore(clients.s3),
      ecsClient: ecs,
      logger: { info: () => {}, warn: () => {} },
    },
  );
  const started = performance.now();
  const results = await launcher.launchBatch(
    Array.from({ length: RUNS }, (_, i) => ({
      flowName: "process_shard",
      parameters: { shard: String(i) },
    })),
    { orgId: ORG, environment: "production", correlationId: `bench-c${concurrency}` },
    { concurrency },
  );
  const seconds = (performance.now() - started) / 1000;
  clients.dynamodb.middlewareStack.remove("benchCallCounter");
  clients.s3.middlewareStack.remove("benchCallCounter");
  const runTaskAttempts = ecsMock.commandCalls(RunTaskCommand).length;
  ecsMock.restore();
  ecs.destroy();
  return {
    concurrency,
    results,
    seconds,
    dynamo,
    s3,
    runTaskAttempts,
    throttled,
    successesByToken,
  };
}

async function setUp() {
  const servers = await startLocalServers();
  const clients = createDataClients({
    dynamodbEndpoint: servers.dynamodbEndpoint,
    s3Endpoint: servers.s3Endpoint,
  });
  const tables = tableNamesFor("bench-launch");
  const buckets = { artifacts: "bench-artifacts", traces: "bench-traces" };
  await ensureTables(clients.dynamodb, tables);
  await ensureBuckets(clients.s3, [buckets.artifacts, buckets.traces]);
  const persistence = new Persistence(clients.doc, tables);
  const uri = `s3://${buckets.artifacts}/flows/process_shard/1.0.0/artifact.zip`;
  await persistence.flows.put({
    org_id: ORG,
    flow_name: "process_shard",
    flow_version: "1.0.0",
    spec: JSON.stringify({
      spec_version: 1,
      name: "process_shard",
      version: "1.0.0",
      parameters: { shard: { type: "string", required: true } },
      tasks: [],
      edges: [],
    }),
    artifact_s3_uri: uri,
    artifact_sha256: sha256Hex(uri),
    is_semver: true,
    registered_at: new Date().toISOString(),
  });
  return { servers, clients, tables, buckets, persistence };
}

async function allRuns(persistence: Persistence): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  let nextToken: string | undefined;
  do {
    const page = await persistence.runs.list({
      orgId: ORG,
      limit: 100,
      ...(nextToken ? { nextToken } : {}),
    });
    runs.push(...page.items);
    nextToken = page.nextToken;
  } while (nextToken);
  return runs;
}

export async function main(): Promise<void> {
  const shared = await setUp();
  try {
    console.log(
      `launchBatch of ${RUNS} runs; ECS mock ceiling ${CEILING_PER_SECOND} RunTask/s (token bucket, burst ${BURST}); ` +
        `throttle backoff base 20 ms (production: 200 ms) so the ceiling, not our sleep, is measured`,
    );
    let expectedRuns = 0;
    for (const concurrency of [10]) {
      const r = await round(concurrency, shared);
      expectedRuns += RUNS;
      const ok = r.results.filter((x) => x.success).length;
      const runs = await allRuns(shared.persistence);
      const ids = new Set(runs.map((run) => run.run_id));
      const fromThisRound = r.results.map((x) => x.runId);
      const missing = fromThisRound.filter((id) => !ids.has(id)).length;
      const duplicatedTasks = [...r.successesByToken.values()].filter((n) => n !== 1).length;
      const withoutTask = runs.filter(
        (run) => fromThisRound.includes(run.run_id) && !run.task_arn,
      ).length;
      const rate = RUNS / r.seconds;
      console.log(`\nconcurrency ${concurrency}:`);
      console.log(
        `  ${ok}/${RUNS} launched in ${r.seconds.toFixed(2)} s = ${rate.toFixed(1)} launches/s ` +
          `(${((rate / CEILING_PER_SECOND) * 100).toFixed(0)}% of the ${CEILING_PER_SECOND}/s ceiling)`,
      );
      console.log(
        `  runs in table: ${runs.length} (expected ${expectedRuns}), distinct run ids ${ids.size}, ` +
          `lost ${missing}, without task ARN ${withoutTask}`,
      );
      console.log(
        `  RunTask: ${r.runTaskAttempts} attempts, ${r.throttled} throttled, ` +
          `${r.successesByToken.size} client tokens succeeded, ${duplicatedTasks} tokens with more than one task`,
      );
      console.log(`  calls per launch(): DynamoDB ${perLaunch(r.dynamo, RUNS)}`);
      console.log(`                      S3 ${perLaunch(r.s3, RUNS)}`);
      console.log(
        `                      ECS ${(r.runTaskAttempts / RUNS).toFixed(2)} RunTask attempts (1.00 successful)`,
      );
      if (
        ok !== RUNS ||
        missing > 0 ||
        duplicatedTasks > 0 ||
        ids.size !== runs.length ||
        runs.length !== expectedRuns
      ) {
        throw new Error("launch benchmark: lost or duplicated runs");
      }
    }
    console.log(
      "\nbaseline: minimum per launch without deployment = DynamoDB 3 (Query flow, PutItem run, UpdateItem task ARN) + ECS 1 RunTask; 0 S3 unless parameters spill",
    );
  } finally {
    destroyDataClients(shared.clients);
    await shared.servers.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
