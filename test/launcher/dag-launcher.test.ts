import {
  DescribeTaskDefinitionCommand,
  ECSClient,
  InvalidParameterException,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type RunTaskCommandInput,
} from "@aws-sdk/client-ecs";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import {
  ConfigurationError,
  ConflictError,
  InvalidLaunchRequestError,
  RunNotFoundError,
} from "../../lib/errors";
import {
  DagLauncher,
  ECS_OVERRIDES_MAX_CHARS,
  RUN_RECORD_PARAMETERS_MAX_BYTES,
  type DagLaunchRequest,
  type LocalBackendOptions,
} from "../../lib/launcher";
import { Persistence } from "../../lib/persistence/persistence";
import { ObjectStore } from "../../lib/storage/object-store";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import {
  GUIDE_CONFIG,
  itemsMentioning,
  makeLauncher,
  newOrg,
  registerFlow,
  runsOf,
} from "./support";

const ecsMock = mockClient(ECSClient);
let env: TestEnv;
let taskCounter = 0;

beforeAll(async () => {
  env = await startTestEnv();
}, 60_000);
afterAll(async () => {
  await env.close();
});
/** ECS starting a task: a fresh task ARN per call. */
function startTask(input: RunTaskCommandInput) {
  return {
    tasks: [
      {
        taskArn: `arn:aws:ecs:us-east-1:123456789:task/dagy/${input.clientToken}-${++taskCounter}`,
      },
    ],
  };
}

beforeEach(() => {
  ecsMock.reset();
  ecsMock.on(RunTaskCommand).callsFake(startTask);
  ecsMock.on(StopTaskCommand).resolves({});
});

function runTaskInputs(): RunTaskCommandInput[] {
  return ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
}
function containerEnv(input: RunTaskCommandInput | undefined): Record<string, string> {
  const list = input?.overrides?.containerOverrides?.[0]?.environment ?? [];
  return Object.fromEntries(list.map((e) => [e.name!, e.value!]));
}
async function rejection(promise: Promise<unknown>): Promise<InvalidLaunchRequestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidLaunchRequestError);
  return error as InvalidLaunchRequestError;
}

describe("DagLauncher.launch (the guide's examples)", () => {
  it("launches etl_pipeline with the guide's keyword arguments: exact RunTask and a QUEUED run", async () => {
    const org = newOrg("acme");
    const flow = await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env, {}, { ids: ["550e8400-e29b-41d4-a716-446655440000"] });
    const result = await launcher.launch({
      flowName: "etl_pipeline",
      flowVersion: "1.0.0",
      orgId: org,
      environment: "production",
      parameters: { date: "2024-03-14", source_bucket: "s3://data-input" },
      correlationId: "req-12345",
    });
    const runId = "550e8400-e29b-41d4-a716-446655440000";
    expect(result).toEqual({
      success: true,
      runId,
      flowName: "etl_pipeline",
      taskArn: expect.stringMatching(/^arn:aws:ecs:us-east-1:123456789:task\/dagy\//),
      correlationId: "req-12345",
      metadata: {},
    });
    expect(runTaskInputs()).toEqual([
      {
        cluster: GUIDE_CONFIG.clusterArn,
        taskDefinition: "dagy-worker",
        count: 1,
        launchType: "FARGATE",
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ["subnet-12345", "subnet-67890"],
            securityGroups: ["sg-12345"],
            assignPublicIp: "DISABLED",
          },
        },
        overrides: {
          cpu: "1024",
          memory: "2048",
          ephemeralStorage: { sizeInGiB: 21 },
          containerOverrides: [
            {
              name: "worker",
              environment: [
                { name: "AWS_REGION", value: "us-east-1" },
                { name: "DAGY_ARTIFACT_SHA256", value: flow.artifact_sha256 },
                { name: "DAGY_ARTIFACT_URI", value: flow.artifact_s3_uri },
                { name: "DAGY_CORRELATION_ID", value: "req-12345" },
                { name: "DAGY_ECS_LOG_GROUP", value: "/ecs/dagy-worker" },
                { name: "DAGY_ENVIRONMENT", value: "production" },
                { name: "DAGY_FLOW_NAME", value: "etl_pipeline" },
                { name: "DAGY_FLOW_VERSION", value: "1.0.0" },
                { name: "DAGY_ORG_ID", value: org },
                // Declared defaults are applied at launch, so the run record shows what ran.
                {
                  name: "DAGY_PARAMETERS",
                  value: '{"date":"2024-03-14","source_bucket":"s3://data-input","retries":2}',
                },
                { name: "DAGY_RUNS_TABLE", value: env.tables.runs },
                { name: "DAGY_RUN_ID", value: runId },
                { name: "DAGY_TRACES_BUCKET", value: env.buckets.traces },
              ],
              cpu: 1024,
              memory: 2048,
            },
          ],
          taskRoleArn: GUIDE_CONFIG.taskRoleArn,
          executionRoleArn: GUIDE_CONFIG.taskExecutionRoleArn,
        },
        tags: [
          { key: "dagy:run-id", value: runId },
          { key: "dagy:org-id", value: org },
          { key: "dagy:flow-name", value: "etl_pipeline" },
        ],
        propagateTags: "TASK_DEFINITION",
        enableECSManagedTags: true,
        startedBy: "dagy",
        clientToken: runId,
      },
    ]);
    const run = await launcher.getRunStatus(runId);
    expect(run).toMatchObject({
      run_id: runId,
      org_id: org,
      flow_name: "etl_pipeline",
      flow_version: "1.0.0",
      status: "QUEUED",
      environment: "production",
      correlation_id: "req-12345",
      trigger_source: "lambda",
      parameters: { date: "2024-03-14", source_bucket: "s3://data-input", retries: 2 },
      artifact_s3_uri: flow.artifact_s3_uri,
      dep_package_uris: [],
      secret_names: [],
      workload_profile: "medium",
      cpu: "1024",
      memory: "2048",
      ephemeral_storage_gib: 21,
      capacity_provider: "FARGATE",
      task_arn: result.taskArn,
      log_stream: runId,
    });
  });

  it("resolves 'latest' to the highest semantic version and passes its artifact", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.2.0");
    const newest = await registerFlow(env, org, "etl_pipeline", "1.10.0");
    await registerFlow(env, org, "etl_pipeline", "dev-branch");
    const launcher = makeLauncher(env);
    const result = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "2024-03-14" },
    });
    expect(result.success).toBe(true);
    const vars = containerEnv(runTaskInputs()[0]);
    expect(vars.DAGY_FLOW_VERSION).toBe("1.10.0");
    expect(vars.DAGY_ARTIFACT_URI).toBe(newest.artifact_s3_uri);
    expect(vars.DAGY_ARTIFACT_SHA256).toBe(newest.artifact_sha256);
    // A non-semver version is launched by its exact name.
    await launcher.launch({
      flowName: "etl_pipeline",
      flowVersion: "dev-branch",
      orgId: org,
      parameters: { date: "x" },
    });
    expect(containerEnv(runTaskInputs()[1]).DAGY_FLOW_VERSION).toBe("dev-branch");
  });

  it.each([
    [{ workloadProfile: "large" }, "2048", "4096", 21],
    [{ cpu: "2048", memory: "4096" }, "2048", "4096", 21],
    [{ ephemeralStorageGib: 100 }, "1024", "2048", 100],
    [{ workloadProfile: "max", ephemeralStorageGib: 200 }, "16384", "32768", 200],
  ] as const)("sizes the task from %j", async (fields, cpu, memory, gib) => {
    const org = newOrg();
    await registerFlow(env, org, "train_model", "1.0.0");
    const result = await makeLauncher(env).launch({
      flowName: "train_model",
      orgId: org,
      ...fields,
    });
    expect(result.success).toBe(true);
    const overrides = runTaskInputs()[0]?.overrides;
    expect(overrides).toMatchObject({ cpu, memory, ephemeralStorage: { sizeInGiB: gib } });
    expect(overrides?.containerOverrides?.[0]).toMatchObject({
      cpu: Number(cpu),
      memory: Number(memory),
    });
    const run = (await runsOf(env, org))[0];
    expect(run).toMatchObject({ cpu, memory, ephemeral_storage_gib: gib });
  });

  it("passes a deployment's package URIs in DAGY_DEP_PACKAGE_URIS, in slug order", async () => {
    const org = newOrg();
    await registerFlow(env, org, "my_pipeline", "1.0.0");
    const persistence = new Persistence(env.clients.doc, env.tables);
    const slugA = `${org}-a-deps`;
    const slugB = `${org}-b-deps`;
    for (const slug of [slugB, slugA]) {
      await persistence.depPackages.put({
        slug,
        org_id: org,
        package_s3_uri: `s3://${env.buckets.artifacts}/dep-packages/${slug}.zip`,
        version: "1.0.0",
        created_at: new Date().toISOString(),
      });
    }
    await persistence.deployments.put({
      org_id: org,
      deployment_name: "production",
      environment: "production",
      dep_package_slugs: [slugB, slugA],
      updated_at: new Date().toISOString(),
    });
    const result = await makeLauncher(env).launch({
      flowName: "my_pipeline",
      orgId: org,
      deploymentName: "production",
      parameters: { data: "s3://bucket/input.csv" },
    });
    expect(result.success).toBe(true);
    const uris = containerEnv(runTaskInputs()[0]).DAGY_DEP_PACKAGE_URIS?.split(",");
    expect(uris).toHaveLength(2);
    expect(new Set(uris)).toEqual(
      new Set([
        `s3://${env.buckets.artifacts}/dep-packages/${slugA}.zip`,
        `s3://${env.buckets.artifacts}/dep-packages/${slugB}.zip`,
      ]),
    );
    expect((await runsOf(env, org))[0]?.deployment_name).toBe("production");
  });

  it("answers an unknown deployment with success false and writes nothing", async () => {
    const org = newOrg();
    await registerFlow(env, org, "my_pipeline", "1.0.0");
    const result = await makeLauncher(env).launch({
      flowName: "my_pipeline",
      orgId: org,
      deploymentName: "nope",
    });
    expect(result).toMatchObject({
      success: false,
      runId: "",
      errorCode: "deployment_not_found",
    });
    expect(result.errorMessage).toContain("deployment nope not found");
    expect(await itemsMentioning(env, org)).toBe(0);
    expect(runTaskInputs()).toHaveLength(0);
  });

  it("declares secret names (never values) and runs on the secrets revision", async () => {
    const org = newOrg();
    await registerFlow(env, org, "api_pipeline", "1.0.0");
    ecsMock.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => {
      if (input.taskDefinition !== "dagy-worker") {
        throw Object.assign(new Error("Unable to describe task definition."), {
          name: "ClientException",
        });
      }
      return {
        taskDefinition: {
          taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker:3",
          family: "dagy-worker",
          executionRoleArn: GUIDE_CONFIG.taskExecutionRoleArn,
          containerDefinitions: [{ name: "worker", image: GUIDE_CONFIG.workerImage }],
        },
      };
    });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({
      taskDefinition: {
        taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker-s-1:1",
      },
    });
    const secretsEnv = {
      DB_PASSWORD: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password",
      API_KEY: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key",
    };
    const result = await makeLauncher(env).launch({
      flowName: "api_pipeline",
      orgId: org,
      secretsEnv,
    });
    expect(result.success).toBe(true);
    const input = runTaskInputs()[0];
    expect(input?.taskDefinition).toBe(
      "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker-s-1:1",
    );
    expect(containerEnv(input).DAGY_SECRET_NAMES).toBe('["API_KEY","DB_PASSWORD"]');
    expect((await runsOf(env, org))[0]?.secret_names).toEqual(["API_KEY", "DB_PASSWORD"]);
    const secretsRegistered = ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input;
    expect(secretsRegistered.containerDefinitions?.[0]?.secrets).toEqual([
      { name: "API_KEY", valueFrom: secretsEnv.API_KEY },
      { name: "DB_PASSWORD", valueFrom: secretsEnv.DB_PASSWORD },
    ]);
  });

  it("uses four calls without a deployment: Query flow, PutItem run, RunTask, UpdateItem task ARN", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const dynamoCalls: string[] = [];
    env.clients.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        dynamoCalls.push(String(context.commandName));
        return next(args);
      },
      { step: "initialize", name: "countLaunchCalls" },
    );
    try {
      await makeLauncher(env).launch({
        flowName: "etl_pipeline",
        orgId: org,
        parameters: { date: "d" },
      });
    } finally {
      env.clients.dynamodb.middlewareStack.remove("countLaunchCalls");
    }
    expect(dynamoCalls).toEqual(["QueryCommand", "PutItemCommand", "UpdateItemCommand"]);
    expect(ecsMock.calls()).toHaveLength(1);
  });
});

describe("DagLauncher configuration", () => {
  const GUIDE_ENV = {
    DAGY_ECS_CLUSTER_ARN: "arn:aws:ecs:us-east-1:123456789:cluster/dagy",
    DAGY_ECS_EXECUTION_ROLE_ARN: "arn:aws:iam::123456789:role/ecs-exec-role",
    DAGY_ECS_TASK_ROLE_ARN: "arn:aws:iam::123456789:role/ecs-task-role",
    DAGY_ECS_WORKER_IMAGE: "123456789.dkr.ecr.us-east-1.amazonaws.com/dagy-worker:latest",
    DAGY_ECS_SUBNETS: "subnet-12345, subnet-67890",
    DAGY_ECS_SECURITY_GROUPS: "sg-12345",
    DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker",
    DAGY_ARTIFACT_BUCKET: "artifacts",
    DAGY_TRACES_BUCKET: "traces",
  };

  it("reads the guide's variables (fromEnv) and launches with them", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = DagLauncher.fromEnv(
      {
        ...GUIDE_ENV,
        DAGY_ARTIFACT_BUCKET: env.buckets.artifacts,
        DAGY_TRACES_BUCKET: env.buckets.traces,
        DAGY_FLOWS_TABLE: env.tables.flows,
        DAGY_RUNS_TABLE: env.tables.runs,
        DAGY_DEPLOYMENTS_TABLE: env.tables.deployments,
        DAGY_DEP_PACKAGES_TABLE: env.tables.depPackages,
        DAGY_ECS_TASK_DEFINITION: "dagy-worker:4",
        DAGY_ECS_CONTAINER_NAME: "dagy",
        AWS_REGION: "eu-west-1",
        DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
        DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
      },
      { ecsClient: new ECSClient({ region: "eu-west-1" }) },
    );
    try {
      const result = await launcher.launch({
        flowName: "etl_pipeline",
        orgId: org,
        parameters: { date: "d" },
      });
      expect(result.success).toBe(true);
      const input = runTaskInputs()[0]!;
      expect(input).toMatchObject({
        cluster: GUIDE_ENV.DAGY_ECS_CLUSTER_ARN,
        taskDefinition: "dagy-worker:4",
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ["subnet-12345", "subnet-67890"],
            securityGroups: ["sg-12345"],
          },
        },
        overrides: {
          taskRoleArn: GUIDE_ENV.DAGY_ECS_TASK_ROLE_ARN,
          executionRoleArn: GUIDE_ENV.DAGY_ECS_EXECUTION_ROLE_ARN,
          containerOverrides: [expect.objectContaining({ name: "dagy" })],
        },
      });
      expect(containerEnv(input)).toMatchObject({
        AWS_REGION: "eu-west-1",
        DAGY_RUNS_TABLE: env.tables.runs,
        DAGY_TRACES_BUCKET: env.buckets.traces,
        DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker",
      });
      expect(await launcher.getRunStatus(result.runId)).toMatchObject({ status: "QUEUED" });
    } finally {
      await launcher.close();
    }
  });

  it("lets the stack's task definition size a launch that names no size, and records it (finding 2)", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = DagLauncher.fromEnv(
      {
        ...GUIDE_ENV,
        DAGY_ARTIFACT_BUCKET: env.buckets.artifacts,
        DAGY_TRACES_BUCKET: env.buckets.traces,
        DAGY_FLOWS_TABLE: env.tables.flows,
        DAGY_RUNS_TABLE: env.tables.runs,
        DAGY_DEPLOYMENTS_TABLE: env.tables.deployments,
        DAGY_DEP_PACKAGES_TABLE: env.tables.depPackages,
        DAGY_ECS_TASK_DEFINITION: "dagy-production-worker",
        DAGY_DEFAULT_WORKLOAD_PROFILE: "large",
        AWS_REGION: "eu-west-1",
        DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
        DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
      },
      { ecsClient: new ECSClient({ region: "eu-west-1" }) },
    );
    try {
      const plain = await launcher.launch({
        flowName: "etl_pipeline",
        orgId: org,
        parameters: { date: "d" },
      });
      const sized = await launcher.launch({
        flowName: "etl_pipeline",
        orgId: org,
        parameters: { date: "d" },
        workloadProfile: "small",
      });
      const [plainInput, sizedInput] = runTaskInputs();
      // No task-level or container-level size: the task definition's (large) applies.
      expect(plainInput!.overrides).not.toHaveProperty("cpu");
      expect(plainInput!.overrides).not.toHaveProperty("memory");
      expect(plainInput!.overrides!.containerOverrides![0]).not.toHaveProperty("cpu");
      expect(plainInput!.overrides!.containerOverrides![0]).not.toHaveProperty("memory");
      expect(await launcher.getRunStatus(plain.runId)).toMatchObject({
        workload_profile: "large",
        cpu: "2048",
        memory: "4096",
      });
      // A size asked for is sent.
      expect(sizedInput!.overrides).toMatchObject({ cpu: "256", memory: "512" });
      expect(await launcher.getRunStatus(sized.runId)).toMatchObject({
        workload_profile: "small",
        cpu: "256",
      });
    } finally {
      await launcher.close();
    }
  });

  it("lists every missing variable at once", () => {
    let error: unknown;
    try {
      DagLauncher.fromEnv({
        DAGY_ECS_CLUSTER_ARN: GUIDE_ENV.DAGY_ECS_CLUSTER_ARN,
        DAGY_ECS_SUBNETS: " ",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toBe(
      // One schema (lib/config/runtime.ts) for every entry point; tables default to `dagy-*`,
      // and the stack's task definition is required (no image-only fallback).
      "launcher configuration is invalid: missing DAGY_ARTIFACT_BUCKET, DAGY_TRACES_BUCKET, DAGY_ECS_SUBNETS, DAGY_ECS_SECURITY_GROUPS, DAGY_ECS_LOG_GROUP, DAGY_ECS_TASK_DEFINITION",
    );
  });

  it("refuses an unknown compute backend by name", () => {
    expect(() => DagLauncher.fromEnv({ ...GUIDE_ENV, DAGY_COMPUTE_BACKEND: "k8s" })).toThrow(
      'DAGY_COMPUTE_BACKEND must be "ecs" or "local"',
    );
  });

  it("builds a local backend only through the injected factory, which Lambda bundles lack", async () => {
    const localEnv = {
      DAGY_ARTIFACT_BUCKET: "artifacts",
      DAGY_TRACES_BUCKET: "traces",
      DAGY_FLOWS_TABLE: "flows",
      DAGY_RUNS_TABLE: "runs",
      DAGY_DEPLOYMENTS_TABLE: "deployments",
      DAGY_DEP_PACKAGES_TABLE: "dep-packages",
      DAGY_COMPUTE_BACKEND: "local",
      DAGY_LOCAL_SECRETS_FILE: "/tmp/dagy-secrets.json",
    };
    expect(() => DagLauncher.fromEnv(localEnv)).toThrow(
      'computeBackend "local" (DAGY_COMPUTE_BACKEND) needs a LocalBackend: pass deps.backend or deps.localBackend; without it only ECS is available',
    );
    const built: LocalBackendOptions[] = [];
    let closed = 0;
    const launcher = DagLauncher.fromEnv(localEnv, {
      localBackend: (options) => {
        built.push(options);
        return {
          submit: () => Promise.reject(new Error("not used")),
          stop: () => Promise.resolve(),
          close: () => {
            closed++;
            return Promise.resolve();
          },
        };
      },
    });
    expect(built).toEqual([
      { logDir: `${process.cwd()}/.dagy/logs`, secretsFile: "/tmp/dagy-secrets.json" },
    ]);
    await launcher.close();
    expect(closed).toBe(1);
  });

  it("takes the guide's explicit options, naming the ones that are missing", () => {
    expect(() => new DagLauncher({ ...GUIDE_CONFIG, subnets: [] })).toThrow(
      "DagLauncher configuration is incomplete; missing: artifactBucket (DAGY_ARTIFACT_BUCKET), tracesBucket (DAGY_TRACES_BUCKET), subnets (DAGY_ECS_SUBNETS), taskDefinition (DAGY_ECS_TASK_DEFINITION)",
    );
  });

  it("refuses ECS without the stack's task definition: a configuration error, never a guessed one", () => {
    expect(
      () =>
        new DagLauncher({
          ...GUIDE_CONFIG,
          artifactBucket: "artifacts",
          tracesBucket: "traces",
        }),
    ).toThrow(
      new ConfigurationError(
        "DagLauncher configuration is incomplete; missing: taskDefinition (DAGY_ECS_TASK_DEFINITION)",
      ),
    );
  });
});

describe("DagLauncher.launchBatch", () => {
  it("launches the guide's four shards with child correlation ids, in order", async () => {
    const org = newOrg();
    await registerFlow(env, org, "process_shard", "1.0.0");
    const launcher = makeLauncher(env);
    const results = await launcher.launchBatch(
      [0, 1, 2, 3].map((i) => ({ flowName: "process_shard", parameters: { shard: String(i) } })),
      { orgId: org, environment: "production", correlationId: "batch-req-12345" },
    );
    expect(results.map((r) => [r.success, r.correlationId])).toEqual([
      [true, "batch-req-12345:0"],
      [true, "batch-req-12345:1"],
      [true, "batch-req-12345:2"],
      [true, "batch-req-12345:3"],
    ]);
    for (const [i, result] of results.entries()) {
      const run = await launcher.getRunStatus(result.runId);
      expect(run).toMatchObject({
        parameters: { shard: String(i) },
        correlation_id: `batch-req-12345:${i}`,
        environment: "production",
        task_arn: result.taskArn,
      });
    }
    expect(new Set(results.map((r) => r.runId)).size).toBe(4);
    expect(runTaskInputs()).toHaveLength(4);
  });

  it("reports a bad request at its index and launches the others", async () => {
    const org = newOrg();
    await registerFlow(env, org, "process_shard", "1.0.0");
    const results = await makeLauncher(env).launchBatch(
      [
        { flowName: "process_shard" },
        { flowName: "process_shard", cpu: "256", memory: "4096" },
        { flowName: "missing_flow" },
        { flowName: "process_shard" },
      ],
      { orgId: org, correlationId: "b" },
      { concurrency: 2 },
    );
    expect(results.map((r) => r.success)).toEqual([true, false, false, true]);
    expect(results[1]).toMatchObject({
      errorCode: "invalid_request",
      correlationId: "b:1",
      runId: "",
    });
    expect(results[1]?.errorMessage).toContain("memory");
    expect(results[2]).toMatchObject({ errorCode: "flow_not_found", correlationId: "b:2" });
    expect(await runsOf(env, org)).toHaveLength(2);
  });
});

describe("DagLauncher failures", () => {
  it("retries a throttled RunTask: one task, one run, the same clientToken on all four calls", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const throttle = () =>
      Object.assign(new Error("Rate exceeded"), {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400 },
      });
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(throttle())
      .rejectsOnce(
        new InvalidParameterException({
          message: "Rate exceeded",
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .rejectsOnce(throttle())
      .resolves({ tasks: [{ taskArn: "arn:aws:ecs:us-east-1:123456789:task/dagy/one" }] });
    const result = await makeLauncher(env).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result).toMatchObject({
      success: true,
      taskArn: "arn:aws:ecs:us-east-1:123456789:task/dagy/one",
    });
    expect(runTaskInputs().map((i) => i.clientToken)).toEqual(Array(4).fill(result.runId));
    const runs = await runsOf(env, org);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      status: "QUEUED",
      task_arn: "arn:aws:ecs:us-east-1:123456789:task/dagy/one",
    });
  });

  it("keeps a batch within its time budget: the throttled run FAILED with the reason, the rest not written (finding 6)", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    let clock = 0;
    // Each RunTask takes 5 s and is throttled; retries wait 1 s.
    ecsMock.on(RunTaskCommand).callsFake(() => {
      clock += 5000;
      throw Object.assign(new Error("Rate exceeded"), {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400 },
      });
    });
    const launcher = makeLauncher(env, {
      ecs: {
        sleep: async (ms: number) => {
          clock += ms;
        },
        now: () => clock,
        random: () => 1,
        throttleRetry: { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 1000 },
      },
    });
    const results = await launcher.launchBatch(
      [0, 1, 2].map((i) => ({ flowName: "etl_pipeline", parameters: { date: `d${i}` } })),
      { orgId: org, correlationId: "b" },
      { concurrency: 1, timeBudgetMs: 10_000, now: () => clock },
    );
    // Two RunTask calls (t=5 s, t=11 s); a third retry would end past the 10 s budget.
    expect(runTaskInputs()).toHaveLength(2);
    expect(results[0]).toMatchObject({ success: false, errorCode: "launch_failed" });
    expect(results[0]?.errorMessage).toMatch(/Rate exceeded/);
    for (const index of [1, 2]) {
      expect(results[index]).toMatchObject({
        success: false,
        runId: "",
        errorCode: "unavailable",
        correlationId: `b:${index}`,
      });
      expect(results[index]?.errorMessage).toMatch(/time budget.*send it again/);
    }
    // Never an untracked QUEUED run: the attempted one is FAILED, the others were not written.
    const runs = await runsOf(env, org);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "FAILED", run_id: results[0]!.runId });
    expect(runs[0]?.error_message).toMatch(/Rate exceeded/);
  });

  it("records FAILED with the reason when ECS has no capacity after retries", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: "RESOURCE:MEMORY" }] });
    const result = await makeLauncher(env, {
      ecs: { sleep: async () => {}, capacityRetry: { maxAttempts: 3 } },
    }).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result).toMatchObject({
      success: false,
      errorCode: "launch_failed",
      errorMessage: "ECS could not place the task after 3 attempts: RESOURCE:MEMORY",
    });
    expect(runTaskInputs()).toHaveLength(3);
    const run = await makeLauncher(env).getRunStatus(result.runId);
    expect(run).toMatchObject({
      status: "FAILED",
      error_message: "ECS could not place the task after 3 attempts: RESOURCE:MEMORY",
    });
    expect(run?.completed_at).toEqual(expect.any(String));
  });

  it("records FAILED when RunTask fails outright", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    ecsMock.on(RunTaskCommand).rejects(
      new InvalidParameterException({
        message: "TaskDefinition is inactive",
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const result = await makeLauncher(env).launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result).toMatchObject({
      success: false,
      errorMessage: "ECS RunTask failed: TaskDefinition is inactive",
    });
    expect(runTaskInputs()).toHaveLength(1);
    expect(await runsOf(env, org)).toEqual([
      expect.objectContaining({
        run_id: result.runId,
        status: "FAILED",
        error_message: result.errorMessage,
      }),
    ]);
  });

  it("keeps parameters too large for the container overrides in the run record, exactly", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const parameters = { rows: Array.from({ length: 900 }, (_, i) => `row-${i}-\u00e9"quoted"`) };
    // As the Lambda handlers build it: no object store at all.
    const launcher = makeLauncher(env, {}, { withoutStore: true });
    const result = await launcher.launch({ flowName: "bulk", orgId: org, parameters });
    expect(result.success).toBe(true);
    const input = runTaskInputs()[0]!;
    const vars = containerEnv(input);
    expect(vars.DAGY_PARAMETERS_IN_RUN).toBe("1");
    expect(vars.DAGY_PARAMETERS).toBeUndefined();
    expect(vars.DAGY_PARAMETERS_URI).toBeUndefined();
    expect(JSON.stringify(input.overrides).length).toBeLessThanOrEqual(ECS_OVERRIDES_MAX_CHARS);
    const run = await launcher.getRunStatus(result.runId);
    expect(run?.parameters).toEqual(parameters);
    expect(JSON.stringify(run?.parameters)).toBe(JSON.stringify(parameters));
    expect(run?.parameters_uri).toBeUndefined();
  });

  it("spills parameters too large for the run record to S3, exactly, never truncated", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const row = (i: number): string => `row-${i}-\u00e9"quoted"-${"x".repeat(80)}`;
    const parameters = { rows: Array.from({ length: 4000 }, (_, i) => row(i)) };
    expect(Buffer.byteLength(JSON.stringify(parameters))).toBeGreaterThan(
      RUN_RECORD_PARAMETERS_MAX_BYTES,
    );
    const launcher = makeLauncher(env);
    const result = await launcher.launch({ flowName: "bulk", orgId: org, parameters });
    expect(result.success).toBe(true);
    const input = runTaskInputs()[0]!;
    const vars = containerEnv(input);
    const uri = `s3://${env.buckets.artifacts}/run-inputs/${org}/${result.runId}/parameters.json`;
    expect(vars.DAGY_PARAMETERS_URI).toBe(uri);
    expect(vars.DAGY_PARAMETERS).toBeUndefined();
    expect(vars.DAGY_PARAMETERS_IN_RUN).toBeUndefined();
    expect(JSON.stringify(input.overrides).length).toBeLessThanOrEqual(ECS_OVERRIDES_MAX_CHARS);
    const stored = await new ObjectStore(env.clients.s3).get(uri);
    expect(stored.toString("utf8")).toBe(JSON.stringify(parameters));
    const run = await launcher.getRunStatus(result.runId);
    expect(run?.parameters_uri).toBe(uri);
    expect(run?.parameters).toBeUndefined();
  });

  it("refuses parameters too large for the run record when there is no store, writing nothing", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const parameters = {
      rows: Array.from({ length: 4000 }, (_, i) => `row-${i}-${"x".repeat(80)}`),
    };
    const bytes = Buffer.byteLength(JSON.stringify(parameters));
    const error = await rejection(
      makeLauncher(env, {}, { withoutStore: true }).launch({
        flowName: "bulk",
        orgId: org,
        parameters,
        idempotencyKey: "k1",
      }),
    );
    expect(error.field).toBe("parameters");
    expect(error.message).toContain(`${bytes} bytes of JSON`);
    expect(error.message).toContain(`over the ${RUN_RECORD_PARAMETERS_MAX_BYTES} bytes`);
    expect(error.message).toContain("pass a URI to the data");
    expect(await itemsMentioning(env, org)).toBe(0);
    expect(runTaskInputs()).toHaveLength(0);
    const listed = await env.clients.s3.send(
      new ListObjectsV2Command({ Bucket: env.buckets.artifacts, Prefix: `run-inputs/${org}/` }),
    );
    expect(listed.Contents ?? []).toEqual([]);
  });

  it("keeps parameters inline when they fit", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const parameters = { rows: Array.from({ length: 100 }, (_, i) => `row-${i}`) };
    await makeLauncher(env).launch({ flowName: "bulk", orgId: org, parameters });
    expect(containerEnv(runTaskInputs()[0]).DAGY_PARAMETERS).toBe(JSON.stringify(parameters));
  });

  it("refuses extra env too large for the overrides, naming extraEnvVars, writing nothing", async () => {
    const org = newOrg();
    await registerFlow(env, org, "bulk", "1.0.0");
    const error = await rejection(
      makeLauncher(env).launch({
        flowName: "bulk",
        orgId: org,
        extraEnvVars: { BIG: "x".repeat(9000) },
        idempotencyKey: "k1",
      }),
    );
    expect(error.field).toBe("extraEnvVars");
    expect(error.message).toContain("over ECS's limit of 8192");
    expect(await itemsMentioning(env, org)).toBe(0);
    expect(runTaskInputs()).toHaveLength(0);
  });

  it.each([
    [{ parameters: {} }, "parameters.date", 'missing required parameter "date"'],
    [{ parameters: { date: 20240314 } }, "parameters.date", "must be of type string"],
    [{ parameters: { date: "d", retries: 1.5 } }, "parameters.retries", "must be of type integer"],
    [
      { cpu: "256", memory: "4096" },
      "memory",
      "with cpu 256, memory must be one of 512, 1024, 2048",
    ],
    [{ cpu: "2048" }, "memory", "memory is required with cpu"],
    [{ workloadProfile: "large", cpu: "2048", memory: "4096" }, "cpu", "not both"],
    [{ ephemeralStorageGib: 201 }, "ephemeralStorageGib", "from 21 to 200"],
    [
      { workloadProfile: "gigantic" },
      "workloadProfile",
      "small, medium, large, xlarge, heavy, max",
    ],
    [{ extraEnvVars: { DAGY_RUN_ID: "x" } }, "extraEnvVars.DAGY_RUN_ID", "reserved"],
    [{ secretsEnv: { TOKEN: "prod/api-key" } }, "secretsEnv.TOKEN", "Secrets Manager secret ARN"],
    [{ capacityProvider: "EC2" }, "capacityProvider", "FARGATE, FARGATE_SPOT"],
    [{ flowVersion: "1.0.0/../x" }, "flowVersion", "letters, digits"],
  ])("refuses %j naming %s, and writes nothing", async (fields, field, text) => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const request = {
      flowName: "etl_pipeline",
      orgId: org,
      idempotencyKey: "once",
      ...fields,
    } as DagLaunchRequest;
    const error = await rejection(makeLauncher(env).launch(request));
    expect(error.field).toBe(field);
    expect(error.message).toContain(text);
    expect(await itemsMentioning(env, org)).toBe(0);
    expect(runTaskInputs()).toHaveLength(0);
  });
});

describe("DagLauncher tenant isolation and idempotency", () => {
  it("never lets org B launch, read or cancel org A's flow and runs", async () => {
    const orgA = newOrg("a");
    const orgB = newOrg("b");
    await registerFlow(env, orgA, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const denied = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: orgB,
      parameters: { date: "d" },
    });
    expect(denied).toMatchObject({ success: false, runId: "", errorCode: "flow_not_found" });
    expect(denied.errorMessage).toContain(orgB);
    expect(await itemsMentioning(env, orgB)).toBe(0);

    const ok = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: orgA,
      parameters: { date: "d" },
    });
    expect(await launcher.getRunStatus(ok.runId, { orgId: orgB })).toBeUndefined();
    expect(await launcher.getRunStatus(ok.runId, { orgId: orgA })).toMatchObject({
      run_id: ok.runId,
    });
    await expect(launcher.cancelRun(ok.runId, { orgId: orgB })).rejects.toThrow(RunNotFoundError);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
    expect(await launcher.getRunStatus(ok.runId)).toMatchObject({ status: "QUEUED" });
  });

  it("returns the first launch for a repeated idempotency key: same run, one RunTask", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const request = {
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
      idempotencyKey: "order-77",
    };
    const first = await launcher.launch(request);
    const second = await launcher.launch(request);
    expect(second).toEqual({ ...first, replayed: true });
    expect(runTaskInputs()).toHaveLength(1);
    expect(await runsOf(env, org)).toHaveLength(1);

    const otherOrg = newOrg();
    await registerFlow(env, otherOrg, "etl_pipeline", "1.0.0");
    const third = await launcher.launch({ ...request, orgId: otherOrg });
    expect(third.success).toBe(true);
    expect(third.runId).not.toBe(first.runId);
    expect(runTaskInputs()).toHaveLength(2);
  });

  it("refuses a repeated idempotency key with a different request: ConflictError naming the key", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const request = {
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "2024-05-01" },
      idempotencyKey: "order-78",
    };
    const first = await launcher.launch(request);
    expect(first.success).toBe(true);
    const error = await launcher.launch({ ...request, parameters: { date: "2024-05-02" } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe("conflict");
    expect((error as Error).message).toContain("idempotency key order-78");
    expect(runTaskInputs()).toHaveLength(1);
    expect(await runsOf(env, org)).toHaveLength(1);
    // Who asked and how it is traced are not part of the request: still the same launch.
    expect(
      await launcher.launch({ ...request, triggeredBy: "someone-else", correlationId: "c-2" }),
    ).toEqual({ ...first, replayed: true });
  });

  it("gives a batch retried with the same key the same runs", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const items = [{ flowName: "etl_pipeline" }, { flowName: "etl_pipeline" }];
    const common = { orgId: org, parameters: { date: "d" }, idempotencyKey: "batch-1" };
    const first = await launcher.launchBatch(items, common);
    const again = await launcher.launchBatch(items, common);
    expect(again.map((r) => r.runId)).toEqual(first.map((r) => r.runId));
    expect(again.every((r) => r.replayed)).toBe(true);
    expect(runTaskInputs()).toHaveLength(2);
  });

  it("frees the key of a launch that started nothing, so a retry can start the run", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    ecsMock
      .on(RunTaskCommand)
      .resolvesOnce({ failures: [{ reason: "MISSING" }] })
      .callsFake(startTask);
    const launcher = makeLauncher(env);
    const request = {
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
      idempotencyKey: "retry-me",
    };
    const first = await launcher.launch(request);
    expect(first.success).toBe(false);
    const second = await launcher.launch(request);
    expect(second.success).toBe(true);
    expect(second.runId).not.toBe(first.runId);
    expect(await launcher.launch(request)).toEqual({ ...second, replayed: true });
  });
});

describe("DagLauncher.cancelRun", () => {
  it("cancels a QUEUED run at once and stops its task", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const { runId, taskArn } = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    const run = await launcher.cancelRun(runId, { orgId: org, reason: "user asked" });
    expect(run).toMatchObject({
      status: "CANCELLED",
      cancel_requested: true,
      stop_reason: "user asked",
    });
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: GUIDE_CONFIG.clusterArn, task: taskArn, reason: "user asked" },
    ]);
    await expect(launcher.cancelRun(runId)).rejects.toThrow(
      new ConflictError(`run ${runId} is already CANCELLED`),
    );
  });

  it("flags a RUNNING run and stops its task; the worker records CANCELLED", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const { runId, taskArn } = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    await new Persistence(env.clients.doc, env.tables).runs.transition(runId, "QUEUED", "RUNNING");
    const run = await launcher.cancelRun(runId);
    expect(run).toMatchObject({ status: "RUNNING", cancel_requested: true });
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: GUIDE_CONFIG.clusterArn, task: taskArn, reason: "cancelled by request" },
    ]);
  });

  it("stops the task of a run cancelled while its launch was submitting", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const stopped: Array<[string, string]> = [];
    const launcher: DagLauncher = makeLauncher(
      env,
      {},
      {
        backend: {
          submit: async (spec) => {
            await launcher.cancelRun(spec.runId, { reason: "changed my mind" });
            return { taskArn: "arn:aws:ecs:us-east-1:123456789:task/dagy/late" };
          },
          stop: async (taskArn, reason) => {
            stopped.push([taskArn, reason]);
          },
        },
      },
    );
    const result = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    expect(result.success).toBe(true);
    expect(stopped).toEqual([
      ["arn:aws:ecs:us-east-1:123456789:task/dagy/late", "changed my mind"],
    ]);
    expect(await launcher.getRunStatus(result.runId)).toMatchObject({
      status: "CANCELLED",
      task_arn: "arn:aws:ecs:us-east-1:123456789:task/dagy/late",
    });
  });

  it("refuses to cancel a finished run and reports unknown runs as not found", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const launcher = makeLauncher(env);
    const { runId } = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      parameters: { date: "d" },
    });
    const runs = new Persistence(env.clients.doc, env.tables).runs;
    await runs.transition(runId, "QUEUED", "RUNNING");
    await runs.transition(runId, "RUNNING", "SUCCEEDED");
    await expect(launcher.cancelRun(runId)).rejects.toThrow(`run ${runId} is already SUCCEEDED`);
    await expect(launcher.cancelRun("no-such-run")).rejects.toThrow(RunNotFoundError);
    expect(await launcher.getRunStatus("idempotency#x#y")).toBeUndefined();
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
  });
});
