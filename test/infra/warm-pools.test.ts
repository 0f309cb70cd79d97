/**
 * Warm pools on Fargate (issue #14), the stack side: what `warmPool` in the stack config
 * creates per pool and what a warm worker may do. Dispatch and fallback: warm-dispatch.test.ts.
 */
import { Match } from "aws-cdk-lib/assertions";
import { WARM_ENV } from "../../lib/config/env";
import {
  actionsOfRole,
  buildStack,
  nagFindings,
  resourceByIdPrefix,
  statementsOfRole,
  type BuiltStack,
} from "./helpers";
import { arnOf, buildWarmStack, id, joined, queueId, ref } from "./warm-helpers";

let warm: BuiltStack;
let production: BuiltStack;
let plain: BuiltStack;

beforeAll(() => {
  warm = buildWarmStack();
  production = buildStack({ environment: "production", warmPool: [{ profile: "large", size: 3 }] });
  plain = buildStack({ environment: "develop" });
});

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
        // The worker task role itself: the API knows its sessions as workers (isolated maps).
        TaskRoleArn: arnOf(id(template, "AWS::IAM::Role", "ComputeTaskRole")),
      });
      const container = task.Properties.ContainerDefinitions[0];
      const byName = (a: { Name: string }, b: { Name: string }) => a.Name.localeCompare(b.Name);
      expect({ ...container, Environment: [...container.Environment].sort(byName) }).toEqual({
        ...coldContainer,
        Environment: [
          ...coldContainer.Environment,
          { Name: WARM_ENV.source, Value: "sqs" },
          { Name: WARM_ENV.queueUrl, Value: ref(queueId(template, Pool)) },
          { Name: WARM_ENV.pool, Value: pool },
          { Name: WARM_ENV.poolTable, Value: tableRef },
        ].sort(byName),
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

  test("warm workers run as the worker task role, which gains each pool's queue and UpdateItem on the pool table; no other role", () => {
    const template = warm.template;
    const role = id(template, "AWS::IAM::Role", "ComputeTaskRole");
    const plainActions = actionsOfRole(
      plain.template,
      id(plain.template, "AWS::IAM::Role", "ComputeTaskRole"),
    );
    const poolTable = arnOf(id(template, "AWS::DynamoDB::Table", "WarmPoolsPoolTable"));
    const statements = statementsOfRole(template, role);
    for (const Pool of ["Small", "Medium"]) {
      expect(statements).toContainEqual({
        Effect: "Allow",
        Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
        Resource: arnOf(queueId(template, Pool)),
      });
    }
    expect(statements).toContainEqual({
      Effect: "Allow",
      Action: "dynamodb:UpdateItem",
      Resource: [poolTable],
    });
    expect(actionsOfRole(template, role)).toEqual(
      [
        ...new Set([
          ...plainActions,
          "sqs:ChangeMessageVisibility",
          "sqs:DeleteMessage",
          "sqs:ReceiveMessage",
          "dynamodb:UpdateItem",
        ]),
      ].sort(),
    );
    expect(
      Object.keys(template.findResources("AWS::IAM::Role")).filter((r) =>
        r.startsWith("WarmPools"),
      ),
    ).toEqual([]);
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
