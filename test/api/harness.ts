/**
 * The API over real local DynamoDB and S3 (dynalite, s3rver), a real DagLauncher with its ECS
 * backend over a mocked ECSClient, and the EventBridge schedule service over mocked clients.
 */
import { ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import { createApi, type Api, type ApiDependencies, type ApiServices } from "../../lib/api";
import { createAuthResolver } from "../../lib/api/auth";
import { parseRuntimeConfig, type RuntimeConfig } from "../../lib/config/runtime";
import { createServices, type Services } from "../../lib/services";
import type { HttpResponse } from "../../lib/api/http";
import type { DagLauncher } from "../../lib/launcher/dag-launcher";
import type { Persistence } from "../../lib/persistence/persistence";
import type { FlowRecord } from "../../lib/persistence/records";
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

/** A deployed stack's api Lambda configuration, over the test's local tables and buckets. */
export function apiConfig(env: TestEnv, extra: Record<string, string> = {}): RuntimeConfig {
  return parseRuntimeConfig(
    {
      DAGY_ENVIRONMENT: "production",
      AWS_REGION: REGION,
      DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
      DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
      DAGY_FLOWS_TABLE: env.tables.flows,
      DAGY_RUNS_TABLE: env.tables.runs,
      DAGY_DEPLOYMENTS_TABLE: env.tables.deployments,
      DAGY_DEP_PACKAGES_TABLE: env.tables.depPackages,
      DAGY_ARTIFACT_BUCKET: env.buckets.artifacts,
      DAGY_TRACES_BUCKET: env.buckets.traces,
      DAGY_ECS_CLUSTER_ARN: CLUSTER_ARN,
      DAGY_ECS_SUBNETS: "subnet-12345,subnet-67890",
      DAGY_ECS_SECURITY_GROUPS: "sg-12345",
      DAGY_ECS_TASK_DEFINITION: "dagy-worker",
      DAGY_ECS_CONTAINER_NAME: "worker",
      DAGY_ECS_TASK_ROLE_ARN: "arn:aws:iam::123456789012:role/ecs-task-role",
      DAGY_ECS_EXECUTION_ROLE_ARN: "arn:aws:iam::123456789012:role/ecs-exec-role",
      DAGY_ECS_LOG_GROUP: LOG_GROUP,
      DAGY_API_AUTH_MODE: "iam",
      DAGY_LAUNCH_FUNCTION_ARN: LAUNCH_FUNCTION_ARN,
      DAGY_SCHEDULE_RULE_PREFIX: "dagy-",
      DAGY_SCHEDULER_ROLE_ARN: SCHEDULER_ROLE_ARN,
      ...extra,
    },
    "api",
  );
}

export interface Harness {
  readonly env: TestEnv;
  readonly services: Services;
  readonly persistence: Persistence;
  readonly launcher: DagLauncher;
  readonly ecs: AwsClientStub<ECSClient>;
  readonly events: AwsClientStub<EventBridgeClient>;
  readonly scheduler: AwsClientStub<SchedulerClient>;
  /** An API over these services (override any service, the auth mode or the logger). */
  api(
    overrides?: Partial<Omit<ApiDependencies, "services">> & {
      services?: Partial<ApiServices>;
    },
  ): Api;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const env = await startTestEnv();
  const ecs = mockClient(ECSClient);
  const events = mockClient(EventBridgeClient);
  const scheduler = mockClient(SchedulerClient);
  const ecsClient = new ECSClient({ region: REGION });
  const services = createServices(
    apiConfig(env),
    {
      doc: env.clients.doc,
      s3: env.clients.s3,
      ecs: ecsClient,
      events: new EventBridgeClient({ region: REGION }),
      scheduler: new SchedulerClient({ region: REGION }),
    },
    { logger: silentLogger },
  );
  return {
    env,
    services,
    persistence: services.persistence,
    launcher: services.launcher,
    ecs,
    events,
    scheduler,
    api(overrides = {}) {
      const { services: serviceOverrides, ...rest } = overrides;
      return createApi({
        services: { ...services, ...serviceOverrides },
        auth: createAuthResolver("iam"),
        region: REGION,
        logGroup: LOG_GROUP,
        logger: silentLogger,
        ...rest,
      });
    },
    async close() {
      ecs.restore();
      events.restore();
      scheduler.restore();
      ecsClient.destroy();
      await services.launcher.close();
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
