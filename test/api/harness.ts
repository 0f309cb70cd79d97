/**
 * The API over real local DynamoDB and S3 (dynalite, s3rver), a real DagLauncher with its ECS
 * backend over a mocked ECSClient, and the EventBridge schedule service over mocked clients.
 */
import { ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import { createApi, type Api, type ApiDependencies } from "../../lib/api";
import { createAuthResolver, type AuthResolver } from "../../lib/api/auth";
import type { HttpResponse } from "../../lib/api/http";
import { DagLauncher } from "../../lib/launcher/dag-launcher";
import { Persistence } from "../../lib/persistence/persistence";
import type { FlowRecord } from "../../lib/persistence/records";
import { EventBridgeScheduleService } from "../../lib/schedules/eventbridge";
import { startTestEnv, type TestEnv } from "../support/local-servers";

export const REGION = "us-east-1";
export const CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/dagy";
export const LAUNCH_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:dag-launcher";
export const SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/EventBridgeInvokeRole";
export const LOG_GROUP = "/ecs/dagy-worker";

export const silentLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  event: () => undefined,
  child() {
    return silentLogger;
  },
  redact: () => undefined,
};

export function taskArnFor(runId: string): string {
  return `arn:aws:ecs:us-east-1:123456789012:task/dagy/${runId.replace(/-/g, "")}`;
}

export async function registerFlow(
  persistence: Persistence,
  orgId: string,
  flowName: string,
  version = "1.0.0",
  artifactBucket = "artifacts",
): Promise<FlowRecord> {
  const record: FlowRecord = {
    org_id: orgId,
    flow_name: flowName,
    flow_version: version,
    spec: JSON.stringify({ spec_version: 1, name: flowName, version, parameters: {}, tasks: [] }),
    artifact_s3_uri: `s3://${artifactBucket}/flows/${flowName}/${version}/artifact.zip`,
    artifact_sha256: "a".repeat(64),
    is_semver: true,
    registered_at: "2024-03-01T00:00:00.000Z",
  };
  await persistence.flows.put(record);
  return record;
}

export interface Harness {
  readonly env: TestEnv;
  readonly persistence: Persistence;
  readonly launcher: DagLauncher;
  readonly ecs: AwsClientStub<ECSClient>;
  readonly events: AwsClientStub<EventBridgeClient>;
  readonly scheduler: AwsClientStub<SchedulerClient>;
  readonly schedules: EventBridgeScheduleService;
  /** An API over these dependencies (override any). */
  api(overrides?: Partial<ApiDependencies> & { auth?: AuthResolver }): Api;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const env = await startTestEnv();
  const persistence = new Persistence(env.clients.doc, env.tables, { logger: silentLogger });
  const ecs = mockClient(ECSClient);
  const events = mockClient(EventBridgeClient);
  const scheduler = mockClient(SchedulerClient);
  const ecsClient = new ECSClient({ region: REGION });
  const launcher = new DagLauncher(
    {
      clusterArn: CLUSTER_ARN,
      subnets: ["subnet-12345", "subnet-67890"],
      securityGroups: ["sg-12345"],
      taskDefinition: "dagy-worker",
      taskRoleArn: "arn:aws:iam::123456789012:role/ecs-task-role",
      taskExecutionRoleArn: "arn:aws:iam::123456789012:role/ecs-exec-role",
      logGroup: LOG_GROUP,
      region: REGION,
      artifactBucket: env.buckets.artifacts,
      tracesBucket: env.buckets.traces,
      tables: env.tables,
    },
    { clients: env.clients, persistence, ecsClient, logger: silentLogger },
  );
  const schedules = new EventBridgeScheduleService({
    events: new EventBridgeClient({ region: REGION }),
    launchFunctionArn: LAUNCH_FUNCTION_ARN,
    namePrefix: "dagy-",
    scheduler: new SchedulerClient({ region: REGION }),
    schedulerRoleArn: SCHEDULER_ROLE_ARN,
  });
  return {
    env,
    persistence,
    launcher,
    ecs,
    events,
    scheduler,
    schedules,
    api(overrides = {}) {
      return createApi({
        launcher,
        persistence,
        schedules,
        auth: createAuthResolver("iam"),
        environment: "production",
        region: REGION,
        logGroup: LOG_GROUP,
        logger: silentLogger,
        ...overrides,
      });
    },
    async close() {
      ecs.restore();
      events.restore();
      scheduler.restore();
      ecsClient.destroy();
      await launcher.close();
      await env.close();
    },
  };
}

/** RunTask answers with a task ARN derived from the run id (the clientToken). */
export function acceptRunTask(ecs: AwsClientStub<ECSClient>): void {
  ecs.on(RunTaskCommand).callsFake((input: { clientToken?: string }) => ({
    tasks: [{ taskArn: taskArnFor(input.clientToken ?? "unknown") }],
    failures: [],
  }));
  ecs.on(StopTaskCommand).resolves({});
}

export function bodyOf(response: HttpResponse): Record<string, unknown> {
  expect(response.headers["content-type"]).toBe("application/json");
  return JSON.parse(response.body) as Record<string, unknown>;
}
