/**
 * Warm pools on Fargate (issue #14), the stack side: what `warmPool` in the stack config
 * creates, what each piece may do, and that a stack without it has none of it.
 */
import { Match, type Template } from "aws-cdk-lib/assertions";
import { WARM_ENV } from "../../lib/config/env";
import { ENTRY_POINT_VARIABLES, type EntryPoint } from "../../lib/config/runtime";
import { envFromStackOutputs } from "../../lib/config/stack-outputs";
import {
  actionsOfRole,
  buildStack,
  logicalIdByPrefix,
  nagFindings,
  resourceByIdPrefix,
  statementsOfRole,
  statementWith,
  type BuiltStack,
} from "./helpers";

let warm: BuiltStack;
let production: BuiltStack;
let plain: BuiltStack;

beforeAll(() => {
  warm = buildStack({
    environment: "develop",
    warmPool: [
      { profile: "small", size: 2 },
      { profile: "medium", size: 1 },
    ],
  });
  production = buildStack({ environment: "production", warmPool: [{ profile: "large", size: 3 }] });
  plain = buildStack({ environment: "develop" });
});

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });
const id = (template: Template, type: string, prefix: string) =>
  logicalIdByPrefix(template, type, prefix);
const queueId = (template: Template, pool: string) =>
  id(template, "AWS::SQS::Queue", `WarmPools${pool}Queue`);
const roleOf = (template: Template, name: string) =>
  id(template, "AWS::IAM::Role", `Functions${name}Role`);
const LAUNCHING = ["Api", "Launch", "TaskEvents", "Reconcile", "WarmFallback"] as const;

/** A resolved Fn::Join with `{Ref: X}` written as `<X>`: what the Lambda sees, tokens named. */
function joined(value: unknown): string {
  if (typeof value === "string") return value;
  const join = (value as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"];
  if (join) return join[1].map(joined).join(join[0]);
  const refId = (value as { Ref?: string }).Ref;
  if (refId !== undefined) return `<${refId}>`;
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

function envOf(template: Template, name: string): Record<string, unknown> {
  const fn = resourceByIdPrefix(template, "AWS::Lambda::Function", `Functions${name}Function`);
  return (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
}

describe("warm pools: one ECS service of idle workers per configured profile", () => {
  test("each pool is a FARGATE service of `size` tasks in the worker subnets and security group, no load balancer", () => {
    const template = warm.template;
    const cluster = ref(id(template, "AWS::ECS::Cluster", "ComputeCluster"));
    for (const [pool, size] of [
      ["small", 2],
      ["medium", 1],
    ] as const) {
      const service = resourceByIdPrefix(
        template,
        "AWS::ECS::Service",
        `WarmPools${pool.charAt(0).toUpperCase()}${pool.slice(1)}Service`,
      );
      expect(service.Properties).toMatchObject({
        ServiceName: `dagy-develop-warm-${pool}`,
        Cluster: cluster,
        DesiredCount: size,
        CapacityProviderStrategy: [{ CapacityProvider: "FARGATE", Weight: 1 }],
        DeploymentConfiguration: {
          MinimumHealthyPercent: 100,
          MaximumPercent: 200,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        },
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            AssignPublicIp: "DISABLED",
            SecurityGroups: [
              arnOf(id(template, "AWS::EC2::SecurityGroup", "NetworkWorkerSecurityGroup")),
            ].map((a) => ({ "Fn::GetAtt": [a["Fn::GetAtt"][0], "GroupId"] })),
          },
        },
      });
      expect(service.Properties!.LoadBalancers).toBeUndefined();
      expect(service.Properties!.LaunchType).toBeUndefined();
      // A first deploy must not create the service before FARGATE is associated with the cluster.
      expect(service.DependsOn).toContain(
        id(template, "AWS::ECS::ClusterCapacityProviderAssociations", "ComputeCluster"),
      );
    }
    // The same subnets the launcher's RunTask uses.
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const subnets = joined(outputs.DagyEcsSubnets!.Value).split(",");
    template.hasResourceProperties("AWS::ECS::Service", {
      ServiceName: "dagy-develop-warm-small",
      NetworkConfiguration: {
        AwsvpcConfiguration: { Subnets: subnets.map((s) => ref(s.slice(1, -1))) },
      },
    });
  });

  test("each pool's task definition: its own family and size; the worker's image, execution role, logs and stop timeout; the warm variables", () => {
    const template = warm.template;
    const tasks = template.findResources("AWS::ECS::TaskDefinition");
    const cold = Object.values(tasks).find((t) => t.Properties.Family === "dagy-develop-worker")!;
    const coldContainer = cold.Properties.ContainerDefinitions[0];
    const tableRef = ref(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable"));
    for (const [pool, Pool, cpu, memory] of [
      ["small", "Small", "256", "512"],
      ["medium", "Medium", "1024", "2048"],
    ] as const) {
      const task = Object.values(tasks).find(
        (t) => t.Properties.Family === `dagy-develop-warm-${pool}`,
      )!;
      expect(task.Properties).toMatchObject({
        Cpu: cpu,
        Memory: memory,
        RequiresCompatibilities: ["FARGATE"],
        NetworkMode: "awsvpc",
        EphemeralStorage: { SizeInGiB: 21 },
        RuntimePlatform: cold.Properties.RuntimePlatform,
        ExecutionRoleArn: cold.Properties.ExecutionRoleArn,
        TaskRoleArn: arnOf(id(template, "AWS::IAM::Role", `WarmPools${Pool}TaskRole`)),
      });
      const container = task.Properties.ContainerDefinitions[0];
      expect(container).toEqual({
        ...coldContainer,
        Environment: [
          ...coldContainer.Environment,
          { Name: WARM_ENV.source, Value: "sqs" },
          { Name: WARM_ENV.queueUrl, Value: ref(queueId(template, Pool)) },
          { Name: WARM_ENV.pool, Value: pool },
          { Name: WARM_ENV.poolTable, Value: tableRef },
        ],
      });
      expect(container).toMatchObject({ Name: "worker", StopTimeout: 120 });
    }
  });

  test("pool queues: SSE, TLS only, long polling, a 60 s visibility timeout and a dead-letter queue after 5 receives", () => {
    const template = warm.template;
    for (const Pool of ["Small", "Medium"]) {
      const dlq = id(template, "AWS::SQS::Queue", `WarmPools${Pool}DeadLetterQueue`);
      template.hasResourceProperties("AWS::SQS::Queue", {
        QueueName: `dagy-develop-warm-${Pool.toLowerCase()}`,
        SqsManagedSseEnabled: true,
        VisibilityTimeout: 60,
        ReceiveMessageWaitTimeSeconds: 20,
        RedrivePolicy: { deadLetterTargetArn: arnOf(dlq), maxReceiveCount: 5 },
      });
      template.hasResourceProperties("AWS::SQS::Queue", {
        QueueName: `dagy-develop-warm-${Pool.toLowerCase()}-dlq`,
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
    }
    // Every queue of the stack refuses requests without TLS.
    const policies = Object.values(template.findResources("AWS::SQS::QueuePolicy"));
    const queues = Object.keys(template.findResources("AWS::SQS::Queue"));
    for (const queue of queues) {
      const policy = policies.find((p) =>
        (p.Properties.Queues as unknown[]).some(
          (q) => JSON.stringify(q) === JSON.stringify(ref(queue)),
        ),
      );
      expect([queue, policy?.Properties.PolicyDocument.Statement]).toEqual([
        queue,
        expect.arrayContaining([
          expect.objectContaining({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      ]);
    }
  });

  test("the pool table: key `pool`, on demand, PITR, encrypted; retained and protected in production as the other tables", () => {
    warm.template.hasResource("AWS::DynamoDB::Table", {
      Properties: {
        TableName: "dagy-develop-warm-pools",
        KeySchema: [{ AttributeName: "pool", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pool", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: false,
      },
      DeletionPolicy: "Delete",
    });
    const runs = resourceByIdPrefix(
      production.template,
      "AWS::DynamoDB::Table",
      "StorageRunsTable",
    );
    production.template.hasResource("AWS::DynamoDB::Table", {
      Properties: Match.objectLike({
        TableName: "dagy-production-warm-pools",
        DeletionProtectionEnabled: true,
      }),
      DeletionPolicy: runs.DeletionPolicy,
      UpdateReplacePolicy: runs.UpdateReplacePolicy,
    });
  });

  test("a warm worker's role: the worker's own rights, its pool's queue only, and UpdateItem on the pool table", () => {
    const template = warm.template;
    const coldActions = actionsOfRole(template, id(template, "AWS::IAM::Role", "ComputeTaskRole"));
    const poolTable = arnOf(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable"));
    for (const Pool of ["Small", "Medium"]) {
      const role = id(template, "AWS::IAM::Role", `WarmPools${Pool}TaskRole`);
      const statements = statementsOfRole(template, role);
      expect(statementWith(statements, "sqs:ReceiveMessage")).toEqual({
        Effect: "Allow",
        Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
        Resource: arnOf(queueId(template, Pool)),
      });
      expect(statements).toContainEqual({
        Effect: "Allow",
        Action: "dynamodb:UpdateItem",
        Resource: [poolTable],
      });
      expect(actionsOfRole(template, role)).toEqual(
        [
          ...coldActions,
          "sqs:ChangeMessageVisibility",
          "sqs:DeleteMessage",
          "sqs:ReceiveMessage",
        ].sort(),
      );
      // Only ECS tasks of this account may assume it, as the worker's role.
      const trust = resourceByIdPrefix(template, "AWS::IAM::Role", `WarmPools${Pool}TaskRole`);
      const coldTrust = resourceByIdPrefix(template, "AWS::IAM::Role", "ComputeTaskRole");
      expect(trust.Properties!.AssumeRolePolicyDocument).toEqual(
        coldTrust.Properties!.AssumeRolePolicyDocument,
      );
    }
    // The cold worker's role gains nothing.
    expect(coldActions).toEqual(
      actionsOfRole(plain.template, id(plain.template, "AWS::IAM::Role", "ComputeTaskRole")),
    );
  });

  test("the task-state rule covers warm workers: it matches every task of the cluster the pools run in", () => {
    const template = warm.template;
    const cluster = id(template, "AWS::ECS::Cluster", "ComputeCluster");
    const rule = resourceByIdPrefix(template, "AWS::Events::Rule", "RunReconciliationTaskStopped");
    // No family or group filter: dagy-develop-warm-* tasks stopping mid-run reach task-events.
    expect(rule.Properties!.EventPattern).toEqual({
      source: ["aws.ecs"],
      "detail-type": ["ECS Task State Change"],
      detail: { clusterArn: [arnOf(cluster)], lastStatus: ["STOPPED"] },
    });
    for (const service of Object.values(template.findResources("AWS::ECS::Service"))) {
      expect(service.Properties.Cluster).toEqual(ref(cluster));
    }
  });
});

describe("warm dispatch and fallback", () => {
  test("every launching Lambda gets DAGY_WARM_POOLS, the pool table and the fallback queue", () => {
    const template = warm.template;
    const small = queueId(template, "Small");
    const medium = queueId(template, "Medium");
    for (const name of LAUNCHING) {
      const env = envOf(template, name);
      expect(JSON.parse(joined(env[WARM_ENV.pools]))).toEqual([
        { pool: "small", queue_url: `<${small}>`, cpu: "256", memory: "512" },
        { pool: "medium", queue_url: `<${medium}>`, cpu: "1024", memory: "2048" },
      ]);
      expect(env[WARM_ENV.poolTable]).toEqual(
        ref(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable")),
      );
      expect(env[WARM_ENV.fallbackQueueUrl]).toEqual(
        ref(id(template, "AWS::SQS::Queue", "WarmPoolsFallbackQueue")),
      );
    }
  });

  test("launching Lambdas may SendMessage to the pool and fallback queues and UpdateItem the pool table; nothing more of them", () => {
    const template = warm.template;
    const queues = [
      arnOf(queueId(template, "Small")),
      arnOf(queueId(template, "Medium")),
      arnOf(id(template, "AWS::SQS::Queue", "WarmPoolsFallbackQueue")),
    ];
    const poolTable = arnOf(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable"));
    for (const name of LAUNCHING) {
      const statements = statementsOfRole(template, roleOf(template, name));
      const onWarm = statements.filter((s) => JSON.stringify(s.Resource).includes("WarmPools"));
      const expected = [
        { Effect: "Allow", Action: "sqs:SendMessage", Resource: queues },
        { Effect: "Allow", Action: "dynamodb:UpdateItem", Resource: [poolTable] },
      ];
      if (name === "WarmFallback") {
        // ... and it consumes the fallback queue through its event source.
        expected.push({
          Effect: "Allow",
          Action: [
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
          ],
          Resource: queues[2],
        } as never);
      }
      expect([name, onWarm]).toEqual([name, expect.arrayContaining(expected)]);
      expect([name, onWarm.length]).toEqual([name, expected.length]);
    }
    // Without pools nothing of the kind exists.
    for (const name of ["Api", "Launch", "TaskEvents", "Reconcile"]) {
      expect(Object.keys(envOf(plain.template, name)).filter((v) => v.includes("WARM"))).toEqual(
        [],
      );
    }
  });

  test("warm-fallback: fed by the fallback queue in batches of 10, reporting failed items; a relauncher's rights", () => {
    const template = warm.template;
    const fallbackQueue = id(template, "AWS::SQS::Queue", "WarmPoolsFallbackQueue");
    const fn = id(template, "AWS::Lambda::Function", "FunctionsWarmFallbackFunction");
    template.hasResourceProperties("AWS::Lambda::Function", {
      FunctionName: "dagy-develop-warm-fallback",
      Runtime: "nodejs22.x",
      Timeout: 60,
    });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: ref(fn),
      EventSourceArn: arnOf(fallbackQueue),
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    // Lambda needs the visibility timeout at least the function's; AWS advises six times it.
    template.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "dagy-develop-warm-fallback",
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      RedrivePolicy: {
        deadLetterTargetArn: arnOf(id(template, "AWS::SQS::Queue", "WarmPoolsFallbackDeadLetter")),
        maxReceiveCount: 5,
      },
    });
    // Its launch rights are task-events' (RunTask, PassRole, the runs table).
    const relauncher = actionsOfRole(template, roleOf(template, "TaskEvents")).filter(
      (a) => a.startsWith("ecs:") || a === "iam:PassRole" || a.startsWith("dynamodb:"),
    );
    const actions = actionsOfRole(template, roleOf(template, "WarmFallback"));
    expect(actions).toEqual(expect.arrayContaining(relauncher));
    expect(actions.filter((a) => !relauncher.includes(a))).toEqual(
      [
        "events:PutEvents",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
      ].sort(),
    );
  });

  test("every Lambda gets the variables its entry point reads, warm-fallback included", () => {
    const functions = Object.values(warm.template.findResources("AWS::Lambda::Function"));
    for (const entry of ["api", "launch", "task-events", "reconcile", "warm-fallback"]) {
      const fn = functions.find((f) =>
        String(f.Properties.FunctionName ?? "").endsWith(`-${entry}`),
      );
      const variables = Object.keys(fn!.Properties.Environment.Variables as object).filter(
        (v) => v !== "NODE_OPTIONS",
      );
      const spec = ENTRY_POINT_VARIABLES[entry as EntryPoint];
      expect(variables).toEqual(expect.arrayContaining([...spec.required, ...spec.ecsOnly]));
      const known = new Set([...spec.required, ...spec.ecsOnly, ...spec.optional]);
      expect([entry, variables.filter((v) => !known.has(v))]).toEqual([entry, []]);
    }
  });

  test("dead-letter queues and the fallback function raise alarms on the alarm topic", () => {
    const template = warm.template;
    const topic = ref(id(template, "AWS::SNS::Topic", "MonitoringAlarmTopic"));
    for (const name of ["warm-small-dlq", "warm-medium-dlq", "warm-fallback-dlq"]) {
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        AlarmName: `dagy-develop-${name}`,
        MetricName: "ApproximateNumberOfMessagesVisible",
        Threshold: 1,
        AlarmActions: [topic],
      });
    }
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "dagy-develop-warm-fallback-errors",
    });
  });

  test("outputs name the pools, the pool table and the fallback queue; the CLI maps them to DAGY_WARM_*", () => {
    const outputs = warm.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const env = envFromStackOutputs(
      ["DagyWarmPools", "DagyWarmPoolTable", "DagyWarmFallbackQueueUrl"].map((key) => ({
        OutputKey: key,
        OutputValue: joined(outputs[key]!.Value),
      })),
    );
    expect(Object.keys(env).sort()).toEqual(
      [WARM_ENV.fallbackQueueUrl, WARM_ENV.poolTable, WARM_ENV.pools].sort(),
    );
    expect(JSON.parse(env[WARM_ENV.pools]!)).toHaveLength(2);
    const plainOutputs = Object.keys(plain.template.toJSON().Outputs as object);
    expect(plainOutputs.filter((key) => key.startsWith("DagyWarm"))).toEqual([]);
  });
});

describe("without warmPool", () => {
  test("no pool table, queue, service or warm-fallback function", () => {
    const template = plain.template;
    expect(Object.keys(template.findResources("AWS::ECS::Service"))).toEqual([]);
    expect(Object.keys(template.findResources("AWS::Lambda::EventSourceMapping"))).toEqual([]);
    expect(
      Object.keys(template.findResources("AWS::SQS::Queue")).filter((k) => k.includes("Warm")),
    ).toEqual([]);
    expect(Object.keys(template.findResources("AWS::DynamoDB::Table"))).toHaveLength(4);
    expect(Object.keys(template.findResources("AWS::Lambda::Function")).join()).not.toContain(
      "WarmFallback",
    );
  });
});

describe("cdk-nag AwsSolutions with warm pools", () => {
  test.each(["develop", "production"] as const)("%s has no unacknowledged finding", (name) => {
    expect(nagFindings((name === "develop" ? warm : production).app)).toEqual([]);
  });

  test("a pushed ECR image on X86_64: warm workers run the same image on the same platform; no finding", () => {
    const pushed = buildStack({
      environment: "staging",
      architecture: "X86_64",
      workerImage: {
        kind: "uri",
        uri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dagy-worker:v1.0.0",
      },
      warmPool: [{ profile: "xlarge", size: 1 }],
    });
    const tasks = Object.values(pushed.template.findResources("AWS::ECS::TaskDefinition"));
    const cold = tasks.find((t) => t.Properties.Family === "dagy-staging-worker")!.Properties;
    const warmTask = tasks.find(
      (t) => t.Properties.Family === "dagy-staging-warm-xlarge",
    )!.Properties;
    expect(warmTask.ContainerDefinitions[0].Image).toEqual(cold.ContainerDefinitions[0].Image);
    expect(warmTask.RuntimePlatform).toEqual({
      CpuArchitecture: "X86_64",
      OperatingSystemFamily: "LINUX",
    });
    expect([warmTask.Cpu, warmTask.Memory]).toEqual(["4096", "8192"]);
    expect(nagFindings(pushed.app)).toEqual([]);
  });
});
