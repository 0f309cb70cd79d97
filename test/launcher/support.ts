/** Shared set-up for launcher tests: a registered flow, a launcher wired to the test env. */
import { createHash, randomBytes } from "node:crypto";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { DagLauncher, type ComputeBackend, type DagLauncherOptions } from "../../lib/launcher";
import { Persistence } from "../../lib/persistence/persistence";
import type { FlowRecord, RunRecord } from "../../lib/persistence/records";
import { ObjectStore } from "../../lib/storage/object-store";
import type { FlowSpec } from "../../lib/sdk/types";
import type { TestEnv } from "../support/local-servers";

export const GUIDE_CONFIG = {
  clusterArn: "arn:aws:ecs:us-east-1:123456789:cluster/dagy",
  taskExecutionRoleArn: "arn:aws:iam::123456789:role/ecs-exec-role",
  taskRoleArn: "arn:aws:iam::123456789:role/ecs-task-role",
  workerImage: "123456789.dkr.ecr.us-east-1.amazonaws.com/dagy-worker:latest",
  subnets: ["subnet-12345", "subnet-67890"],
  securityGroups: ["sg-12345"],
  logGroup: "/ecs/dagy-worker",
  region: "us-east-1",
} as const;

/** A unique org per test keeps tests independent on shared tables. */
export function newOrg(prefix = "org"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

export function etlSpec(version: string): FlowSpec {
  return {
    spec_version: 1,
    name: "etl_pipeline",
    version,
    parameters: {
      date: { type: "string", required: true },
      source_bucket: { type: "string", required: false },
      retries: { type: "integer", default: 2, required: false },
    },
    tasks: [
      {
        id: "extract",
        task: "extract",
        upstream: [],
        options: { retries: 0, retry_delay_ms: 1000, backoff_factor: 2, max_retry_delay_ms: 60000 },
      },
    ],
    edges: [],
  };
}

export function openSpec(name: string, version: string): FlowSpec {
  return { spec_version: 1, name, version, parameters: {}, tasks: [], edges: [] };
}

export async function registerFlow(
  env: TestEnv,
  orgId: string,
  flowName: string,
  version: string,
  spec: FlowSpec = flowName === "etl_pipeline" ? etlSpec(version) : openSpec(flowName, version),
): Promise<FlowRecord> {
  const persistence = new Persistence(env.clients.doc, env.tables);
  const uri = `s3://${env.buckets.artifacts}/flows/${flowName}/${version}/artifact.zip`;
  const record: FlowRecord = {
    org_id: orgId,
    flow_name: flowName,
    flow_version: version,
    spec: JSON.stringify(spec),
    artifact_s3_uri: uri,
    artifact_sha256: createHash("sha256").update(uri).digest("hex"),
    is_semver: /^\d+\.\d+\.\d+/.test(version),
    registered_at: new Date().toISOString(),
  };
  await persistence.flows.put(record);
  return record;
}

export function makeLauncher(
  env: TestEnv,
  options: Partial<DagLauncherOptions> = {},
  deps: {
    backend?: ComputeBackend;
    ids?: string[];
    withoutStore?: boolean;
    store?: Pick<ObjectStore, "put" | "get">;
  } = {},
): DagLauncher {
  let n = 0;
  return new DagLauncher(
    {
      ...GUIDE_CONFIG,
      taskDefinition: "dagy-worker",
      artifactBucket: env.buckets.artifacts,
      tracesBucket: env.buckets.traces,
      tables: env.tables,
      ecs: { sleep: async () => {} },
      ...options,
    },
    {
      persistence: new Persistence(env.clients.doc, env.tables),
      // The Lambda handlers give no store: they never spill to S3.
      ...(deps.withoutStore ? {} : { store: deps.store ?? new ObjectStore(env.clients.s3) }),
      ecsClient: new ECSClient({ region: "us-east-1" }),
      logger: { info: () => {}, warn: () => {} },
      ...(deps.backend ? { backend: deps.backend } : {}),
      ...(deps.ids ? { idGenerator: () => deps.ids![n++] ?? `run-${n}` } : {}),
    },
  );
}

/** Every run item of an org (a Scan: proves what was and was not written). */
export async function runsOf(env: TestEnv, orgId: string): Promise<RunRecord[]> {
  const items: RunRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await env.clients.doc.send(
      new ScanCommand({
        TableName: env.tables.runs,
        FilterExpression: "org_id = :o",
        ExpressionAttributeValues: { ":o": orgId },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    items.push(...((out.Items ?? []) as RunRecord[]));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Every item in the runs table whose key mentions the org (runs and idempotency claims). */
export async function itemsMentioning(env: TestEnv, orgId: string): Promise<number> {
  const out = await env.clients.doc.send(new ScanCommand({ TableName: env.tables.runs }));
  return (out.Items ?? []).filter((i) => JSON.stringify(i).includes(orgId)).length;
}
