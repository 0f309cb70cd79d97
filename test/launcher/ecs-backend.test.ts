import {
  DescribeTaskDefinitionCommand,
  ECSClient,
  InvalidParameterException,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  ServerException,
  StopTaskCommand,
  type TaskDefinition,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { ConfigurationError } from "../../lib/errors";
import { EcsBackend, TaskSubmissionError, type WorkerLaunchSpec } from "../../lib/launcher";

const CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/dagy";
const RUN_ID = "0b7d7c55-4a47-4b0a-9d8e-1f2a3b4c5d6e";
const TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/dagy/abc123";
const DB_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password";
const API_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key";

const ecsMock = mockClient(ECSClient);

/** The SDK's shape of ECS throttling (ECS has no modeled ThrottlingException class). */
function throttling(): Error {
  return Object.assign(new Error("Rate exceeded"), {
    name: "ThrottlingException",
    $metadata: { httpStatusCode: 400 },
  });
}
const sleeps: number[] = [];

function backend(overrides: Partial<ConstructorParameters<typeof EcsBackend>[0]> = {}): EcsBackend {
  return new EcsBackend({
    ecs: new ECSClient({ region: "us-east-1" }),
    clusterArn: CLUSTER,
    taskDefinition: "dagy-worker",
    subnets: ["subnet-12345", "subnet-67890"],
    securityGroups: ["sg-12345"],
    taskRoleArn: "arn:aws:iam::123456789012:role/ecs-task-role",
    taskExecutionRoleArn: "arn:aws:iam::123456789012:role/ecs-exec-role",
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...overrides,
  });
}

function spec(overrides: Partial<WorkerLaunchSpec> = {}): WorkerLaunchSpec {
  return {
    runId: RUN_ID,
    orgId: "acme-corp",
    flowName: "etl_pipeline",
    environment: { DAGY_RUN_ID: RUN_ID, DAGY_FLOW_NAME: "etl_pipeline", A_VAR: "1" },
    cpu: "2048",
    memory: "4096",
    ephemeralStorageGib: 21,
    capacityProvider: "FARGATE",
    secretsEnv: {},
    ...overrides,
  };
}

const EXPECTED_RUN_TASK = {
  cluster: CLUSTER,
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
    cpu: "2048",
    memory: "4096",
    ephemeralStorage: { sizeInGiB: 21 },
    containerOverrides: [
      {
        name: "worker",
        environment: [
          { name: "A_VAR", value: "1" },
          { name: "DAGY_FLOW_NAME", value: "etl_pipeline" },
          { name: "DAGY_RUN_ID", value: RUN_ID },
        ],
        cpu: 2048,
        memory: 4096,
      },
    ],
    taskRoleArn: "arn:aws:iam::123456789012:role/ecs-task-role",
    executionRoleArn: "arn:aws:iam::123456789012:role/ecs-exec-role",
  },
  tags: [
    { key: "dagy:run-id", value: RUN_ID },
    { key: "dagy:org-id", value: "acme-corp" },
    { key: "dagy:flow-name", value: "etl_pipeline" },
  ],
  propagateTags: "TASK_DEFINITION",
  enableECSManagedTags: true,
  startedBy: "dagy",
  clientToken: RUN_ID,
};

beforeEach(() => {
  ecsMock.reset();
  sleeps.length = 0;
});

describe("EcsBackend.submit", () => {
  it("sends the exact RunTask request and returns the task ARN", async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }], failures: [] });
    await expect(backend().submit(spec())).resolves.toEqual({
      taskArn: TASK_ARN,
      startMode: "cold",
    });
    expect(ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input)).toEqual([
      EXPECTED_RUN_TASK,
    ]);
  });

  it("uses a FARGATE_SPOT capacity provider strategy instead of a launch type", async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
    await backend({ assignPublicIp: "ENABLED" }).submit(
      spec({ capacityProvider: "FARGATE_SPOT", ephemeralStorageGib: 100 }),
    );
    const input = ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input;
    expect(input.launchType).toBeUndefined();
    expect(input.capacityProviderStrategy).toEqual([
      { capacityProvider: "FARGATE_SPOT", weight: 1 },
    ]);
    expect(input.overrides?.ephemeralStorage).toEqual({ sizeInGiB: 100 });
    expect(input.networkConfiguration?.awsvpcConfiguration?.assignPublicIp).toBe("ENABLED");
  });

  it("retries throttling three times with the same clientToken, then succeeds once", async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .rejectsOnce(
        new ServerException({ message: "Service unavailable", $metadata: { httpStatusCode: 500 } }),
      )
      .resolves({ tasks: [{ taskArn: TASK_ARN }] });
    await expect(backend().submit(spec())).resolves.toEqual({
      taskArn: TASK_ARN,
      startMode: "cold",
    });
    const calls = ecsMock.commandCalls(RunTaskCommand);
    expect(calls).toHaveLength(4);
    expect(new Set(calls.map((c) => c.args[0].input.clientToken))).toEqual(new Set([RUN_ID]));
    // Full jitter at random() = 0.5 over 200, 400, 800 ms.
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it("treats ECS's InvalidParameterException 'Rate exceeded' as throttling", async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejectsOnce(
        new InvalidParameterException({
          message: "Rate exceeded",
          $metadata: { httpStatusCode: 400 },
        }),
      )
      .resolves({ tasks: [{ taskArn: TASK_ARN }] });
    await expect(backend().submit(spec())).resolves.toEqual({
      taskArn: TASK_ARN,
      startMode: "cold",
    });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(2);
  });

  it("does not retry a real InvalidParameterException", async () => {
    ecsMock.on(RunTaskCommand).rejects(
      new InvalidParameterException({
        message: "No Fargate configuration exists for given values",
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(backend().submit(spec())).rejects.toThrow(
      "ECS RunTask failed: No Fargate configuration exists for given values",
    );
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it("gives up on throttling after maxAttempts and says why", async () => {
    ecsMock.on(RunTaskCommand).rejects(throttling());
    await expect(backend({ throttleRetry: { maxAttempts: 3 } }).submit(spec())).rejects.toThrow(
      "ECS RunTask failed: Rate exceeded",
    );
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(3);
  });

  it("retries capacity failures returned with HTTP 200, then fails with the reasons", async () => {
    ecsMock.on(RunTaskCommand).resolves({
      tasks: [],
      failures: [
        {
          reason:
            "Capacity is unavailable at this time. Please try again later or in a different availability zone",
        },
      ],
    });
    const error = await backend({ capacityRetry: { maxAttempts: 3, baseDelayMs: 1000 } })
      .submit(spec())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskSubmissionError);
    expect((error as Error).message).toBe(
      "ECS could not place the task after 3 attempts: Capacity is unavailable at this time. Please try again later or in a different availability zone",
    );
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
    // No task exists after a failure, so each capacity attempt is a new request.
    expect(tokens).toEqual([RUN_ID, `${RUN_ID}-c2`, `${RUN_ID}-c3`]);
    expect(sleeps).toEqual([500, 1000]);
  });

  it("starts the task when capacity returns on a later attempt", async () => {
    ecsMock
      .on(RunTaskCommand)
      .resolvesOnce({ failures: [{ reason: "RESOURCE:MEMORY" }] })
      .resolves({ tasks: [{ taskArn: TASK_ARN }] });
    await expect(backend().submit(spec())).resolves.toEqual({
      taskArn: TASK_ARN,
      startMode: "cold",
    });
  });

  it("fails at once for a missing or inactive task definition", async () => {
    ecsMock.on(RunTaskCommand).resolves({
      failures: [
        {
          reason: "MISSING",
          arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker",
        },
      ],
    });
    await expect(backend().submit(spec())).rejects.toThrow(
      "ECS refused the task: MISSING (arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker)",
    );
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
  });

  it("keeps tag values within ECS's allowed characters", async () => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
    await backend().submit(spec({ flowName: "etl#pipe!" }));
    expect(ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input.tags).toContainEqual({
      key: "dagy:flow-name",
      value: "etl_pipe_",
    });
  });
});

describe("EcsBackend secrets", () => {
  const base: TaskDefinition = {
    taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker:7",
    family: "dagy-worker",
    revision: 7,
    status: "ACTIVE",
    taskRoleArn: "arn:aws:iam::123456789012:role/ecs-task-role",
    executionRoleArn: "arn:aws:iam::123456789012:role/ecs-exec-role",
    networkMode: "awsvpc",
    requiresCompatibilities: ["FARGATE"],
    compatibilities: ["EC2", "FARGATE"],
    cpu: "1024",
    memory: "2048",
    runtimePlatform: { cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" },
    containerDefinitions: [
      {
        name: "worker",
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/dagy-worker:v1",
        essential: true,
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": "/ecs/dagy-worker",
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "dagy",
          },
        },
      },
    ],
    registeredAt: new Date("2024-03-14T00:00:00Z"),
  };
  const SECRET_FAMILY_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/dagy-worker-s-x:1";

  function mockTaskDefinitions(registered: TaskDefinition[] = []): void {
    ecsMock.on(DescribeTaskDefinitionCommand).callsFake((input: { taskDefinition: string }) => {
      if (input.taskDefinition === "dagy-worker") return { taskDefinition: base };
      const found = registered.find((d) => d.family === input.taskDefinition);
      if (found) return { taskDefinition: found };
      throw Object.assign(new Error("Unable to describe task definition."), {
        name: "ClientException",
      });
    });
    ecsMock.on(RegisterTaskDefinitionCommand).callsFake((input: TaskDefinition) => {
      const def = { ...input, status: "ACTIVE" as const, taskDefinitionArn: SECRET_FAMILY_ARN };
      registered.push(def);
      return { taskDefinition: def };
    });
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }] });
  }

  it("registers one revision per secret set, declaring the secrets, and reuses it", async () => {
    mockTaskDefinitions();
    const ecs = backend();
    const secretsEnv = { DB_PASSWORD: DB_ARN, API_KEY: API_ARN };
    await ecs.submit(spec({ secretsEnv }));
    await ecs.submit(
      spec({ runId: "second-run", secretsEnv: { API_KEY: API_ARN, DB_PASSWORD: DB_ARN } }),
    );

    const registers = ecsMock.commandCalls(RegisterTaskDefinitionCommand);
    expect(registers).toHaveLength(1);
    const family = registers[0]!.args[0].input.family!;
    expect(family).toMatch(/^dagy-worker-s-[0-9a-f]{16}$/);
    expect(registers[0]!.args[0].input).toEqual({
      family,
      taskRoleArn: base.taskRoleArn,
      executionRoleArn: base.executionRoleArn,
      networkMode: "awsvpc",
      requiresCompatibilities: ["FARGATE"],
      cpu: "1024",
      memory: "2048",
      runtimePlatform: { cpuArchitecture: "ARM64", operatingSystemFamily: "LINUX" },
      containerDefinitions: [
        {
          ...base.containerDefinitions![0],
          secrets: [
            { name: "API_KEY", valueFrom: API_ARN },
            { name: "DB_PASSWORD", valueFrom: DB_ARN },
          ],
          dockerLabels: {
            "dagy.base-task-definition": base.taskDefinitionArn,
            "dagy.secret-set": family.slice("dagy-worker-s-".length),
          },
        },
      ],
    });
    const runs = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
    expect(runs.map((r) => r.taskDefinition)).toEqual([SECRET_FAMILY_ARN, SECRET_FAMILY_ARN]);
    // Secret values never travel in the overrides.
    expect(JSON.stringify(runs)).not.toContain("secretsmanager");
  });

  it("reuses a revision registered by another process (found by DescribeTaskDefinition)", async () => {
    mockTaskDefinitions();
    await backend().submit(spec({ secretsEnv: { DB_PASSWORD: DB_ARN } }));
    ecsMock.resetHistory();
    await backend().submit(spec({ secretsEnv: { DB_PASSWORD: DB_ARN } }));
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(RunTaskCommand)[0]!.args[0].input.taskDefinition).toBe(
      SECRET_FAMILY_ARN,
    );
  });

  it("registers a separate family for a different secret set", async () => {
    mockTaskDefinitions();
    const ecs = backend();
    await ecs.submit(spec({ secretsEnv: { DB_PASSWORD: DB_ARN } }));
    await ecs.submit(spec({ secretsEnv: { API_KEY: API_ARN } }));
    const families = ecsMock
      .commandCalls(RegisterTaskDefinitionCommand)
      .map((c) => c.args[0].input.family);
    expect(families).toHaveLength(2);
    expect(families[0]).not.toBe(families[1]);
  });

  it("runs without secrets use the configured task definition and register nothing", async () => {
    mockTaskDefinitions();
    await backend().submit(spec());
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });
});

describe("EcsBackend task definition", () => {
  it("refuses to start without one: a configuration error naming the variable, nothing registered", () => {
    expect(() => backend({ taskDefinition: "" })).toThrow(ConfigurationError);
    expect(() => backend({ taskDefinition: "" })).toThrow(
      "EcsBackend: taskDefinition is required (DAGY_ECS_TASK_DEFINITION, the stack's worker task definition)",
    );
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });
});

describe("EcsBackend.stop", () => {
  it("sends StopTask with the reason cut to 255 characters", async () => {
    ecsMock.on(StopTaskCommand).resolves({});
    await backend().stop(TASK_ARN, "x".repeat(300));
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      { cluster: CLUSTER, task: TASK_ARN, reason: "x".repeat(255) },
    ]);
  });

  it("treats an already-gone task as stopped", async () => {
    ecsMock.on(StopTaskCommand).rejects(
      new InvalidParameterException({
        message: "The referenced task was not found.",
        $metadata: {},
      }),
    );
    await expect(backend().stop(TASK_ARN, "cancel")).resolves.toBeUndefined();
  });
});
