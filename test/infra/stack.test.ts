import { App, cx_api as cxapi } from "aws-cdk-lib";
import { Match, type Template } from "aws-cdk-lib/assertions";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LAUNCHER_ENV, PLATFORM_ENV } from "../../lib/config/env";
import { ConfigurationError } from "../../lib/errors";
import { API_ROUTES, routeKey } from "../../lib/api/routes";
import { buildDagyApp, configFromContext } from "../../lib/infra/app";
import { FUNCTION_ENV } from "../../lib/config/env";
import { ENTRY_POINT_VARIABLES, type EntryPoint } from "../../lib/config/runtime";
import { STACK_OUTPUTS } from "../../lib/config/stack-outputs";
import {
  actionsOfRole,
  buildStack,
  logicalIdByPrefix,
  nagFindings,
  normalizedTemplate,
  resourceByIdPrefix,
  statementsOfRole,
  statementWith,
  statementsWith,
  type BuiltStack,
} from "./helpers";

const ECR_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dagy-worker:v1.0.0";

const built: Record<"develop" | "staging" | "production" | "variant", BuiltStack> = {} as never;

beforeAll(() => {
  built.develop = buildStack({ environment: "develop" });
  built.staging = buildStack({ environment: "staging" });
  built.production = buildStack({ environment: "production" });
  // Every optional feature at once: JWT, a pushed ECR image, both kinds of config schedule.
  built.variant = buildStack({
    environment: "staging",
    lambdaImageUri: ECR_IMAGE,
    maxRelaunches: 1,
    apiAuth: {
      mode: "jwt",
      issuer: "https://auth.example.com/",
      audience: ["dagy-api"],
      orgClaim: "custom:org",
    },
    secretArnPatterns: ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/*"],
    secretsKmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    schedules: [
      {
        name: "etl-daily",
        flowName: "etl_pipeline",
        orgId: "acme-corp",
        expression: "cron(0 9 * * ? *)",
        flowVersion: "1.0.0",
        parameters: { source: "s3://data-input" },
        workloadProfile: "large",
        deploymentName: "production",
      },
      {
        name: "berlin-morning",
        flowName: "report",
        orgId: "acme-corp",
        expression: "cron(0 7 ? * MON-FRI *)",
        timeZone: "Europe/Berlin",
        enabled: false,
      },
    ],
  });
});

const t = (name: keyof typeof built): Template => built[name].template;
const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });
const objectsOf = (bucketId: string, pattern: string) => ({
  "Fn::Join": ["", [arnOf(bucketId), `/${pattern}`]],
});
const executeApiArn = (apiId: string, route: string) => ({
  "Fn::Join": [
    "",
    [
      "arn:",
      ref("AWS::Partition"),
      ":execute-api:",
      ref("AWS::Region"),
      ":",
      ref("AWS::AccountId"),
      ":",
      ref(apiId),
      `/$default/${route}`,
    ],
  ],
});
const accountArn = (service: string, resource: string) => ({
  "Fn::Join": [
    "",
    [
      "arn:",
      ref("AWS::Partition"),
      `:${service}:`,
      ref("AWS::Region"),
      ":",
      ref("AWS::AccountId"),
      `:${resource}`,
    ],
  ],
});

describe("snapshots (asset hashes normalized)", () => {
  test.each(["develop", "staging", "production"] as const)("%s template", (env) => {
    expect(normalizedTemplate(t(env))).toMatchSnapshot();
  });
});

describe("cdk-nag AwsSolutions", () => {
  test.each(["develop", "staging", "production", "variant"] as const)(
    "%s has no unacknowledged finding",
    (name) => {
      expect(nagFindings(built[name].app)).toEqual([]);
    },
  );
});

describe("storage", () => {
  test("four tables from lib/persistence/schema.ts: keys, indexes, TTL, on-demand, PITR, AWS managed KMS", () => {
    const template = t("develop");
    template.resourceCountIs("AWS::DynamoDB::Table", 4);
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      TableName: "dagy-develop-runs",
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [{ AttributeName: "run_id", KeyType: "HASH" }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      // SSEEnabled without a key: KMS with the AWS managed key aws/dynamodb.
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: "expires_at", Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: "by_org",
          KeySchema: [
            { AttributeName: "org_id", KeyType: "HASH" },
            { AttributeName: "created_at", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: "by_org_flow",
          KeySchema: [
            { AttributeName: "org_flow", KeyType: "HASH" },
            { AttributeName: "created_at", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: "by_org_status",
          KeySchema: [
            { AttributeName: "org_status", KeyType: "HASH" },
            { AttributeName: "created_at", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: "by_active_status",
          KeySchema: [
            { AttributeName: "active_status", KeyType: "HASH" },
            { AttributeName: "updated_at", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
        {
          IndexName: "by_task_arn",
          KeySchema: [{ AttributeName: "task_arn", KeyType: "HASH" }],
          Projection: { ProjectionType: "ALL" },
        },
        {
          // An isolated map's children (GET /runs?parent_run_id=); one new GSI per deploy.
          IndexName: "by_parent",
          KeySchema: [
            { AttributeName: "parent_run_id", KeyType: "HASH" },
            { AttributeName: "created_at", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
    });
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      TableName: "dagy-develop-flows",
      KeySchema: [
        { AttributeName: "org_id", KeyType: "HASH" },
        { AttributeName: "flow_key", KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes: Match.absent(),
    });
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      TableName: "dagy-develop-deployments",
      KeySchema: [
        { AttributeName: "org_id", KeyType: "HASH" },
        { AttributeName: "deployment_name", KeyType: "RANGE" },
      ],
    });
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      TableName: "dagy-develop-dep-packages",
      KeySchema: [{ AttributeName: "slug", KeyType: "HASH" }],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: "by_org" })],
    });
  });

  test("production retains tables and buckets except when its first create rolls back (finding 4)", () => {
    // RETAIN_ON_UPDATE_OR_DELETE is CloudFormation's RetainExceptOnCreate: a failed first
    // deploy deletes what it created, so the retry does not fail with "already exists".
    for (const table of Object.values(t("production").findResources("AWS::DynamoDB::Table"))) {
      expect(table).toMatchObject({
        DeletionPolicy: "RetainExceptOnCreate",
        UpdateReplacePolicy: "Retain",
        Properties: { DeletionProtectionEnabled: true },
      });
    }
    for (const bucket of Object.values(t("production").findResources("AWS::S3::Bucket"))) {
      expect(bucket).toMatchObject({
        DeletionPolicy: "RetainExceptOnCreate",
        UpdateReplacePolicy: "Retain",
      });
    }
    t("production").resourceCountIs("Custom::S3AutoDeleteObjects", 0);
  });

  test.each(["develop", "staging"] as const)(
    "%s deletes tables and buckets with the stack and empties every bucket first (finding 3)",
    (environment) => {
      const template = t(environment);
      for (const table of Object.values(template.findResources("AWS::DynamoDB::Table"))) {
        expect(table).toMatchObject({
          DeletionPolicy: "Delete",
          Properties: { DeletionProtectionEnabled: false },
        });
      }
      const buckets = template.findResources("AWS::S3::Bucket");
      for (const bucket of Object.values(buckets)) {
        expect(bucket).toMatchObject({ DeletionPolicy: "Delete" });
      }
      // One auto-delete resource per bucket: access logs, artifacts (all versions), traces.
      const emptied = Object.values(template.findResources("Custom::S3AutoDeleteObjects")).map(
        (r) => JSON.stringify((r.Properties as { BucketName: unknown }).BucketName),
      );
      expect(emptied.sort()).toEqual(
        Object.keys(buckets)
          .map((id) => JSON.stringify({ Ref: id }))
          .sort(),
      );
    },
  );

  test("buckets block public access, encrypt with SSE-S3 and log access; artifacts are versioned", () => {
    const template = t("develop");
    const artifacts = resourceByIdPrefix(template, "AWS::S3::Bucket", "StorageArtifactsBucket");
    const traces = resourceByIdPrefix(template, "AWS::S3::Bucket", "StorageTracesBucket");
    const logsId = logicalIdByPrefix(template, "AWS::S3::Bucket", "StorageAccessLogsBucket");
    for (const bucket of [artifacts, traces]) {
      expect(bucket.Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            { ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } },
          ],
        },
        LoggingConfiguration: { DestinationBucketName: ref(logsId) },
        OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
      });
    }
    expect(artifacts.Properties).toMatchObject({ VersioningConfiguration: { Status: "Enabled" } });
    expect(traces.Properties?.VersioningConfiguration).toBeUndefined();
  });

  test("every bucket policy denies requests without TLS", () => {
    const template = t("develop");
    const policies = Object.values(template.findResources("AWS::S3::BucketPolicy"));
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: "Deny",
          Action: "s3:*",
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }),
      );
    }
  });

  test("tracebacks expire after 14 days in develop and 90 in production", () => {
    for (const [env, days] of [
      ["develop", 14],
      ["production", 90],
    ] as const) {
      const traces = resourceByIdPrefix(t(env), "AWS::S3::Bucket", "StorageTracesBucket");
      expect(traces.Properties).toMatchObject({
        LifecycleConfiguration: {
          Rules: [{ Id: "expire-traces", ExpirationInDays: days, Status: "Enabled" }],
        },
      });
    }
  });
});

describe("compute", () => {
  test("cluster: container insights, FARGATE and FARGATE_SPOT capacity providers", () => {
    const template = t("develop");
    template.hasResourceProperties("AWS::ECS::Cluster", {
      ClusterName: "dagy-develop",
      ClusterSettings: [{ Name: "containerInsights", Value: "enabled" }],
    });
    template.hasResourceProperties("AWS::ECS::ClusterCapacityProviderAssociations", {
      CapacityProviders: ["FARGATE", "FARGATE_SPOT"],
    });
  });

  test("worker task definition: ARM64, sized by the environment's profile, container `worker` logging to the worker log group", () => {
    const logGroupId = logicalIdByPrefix(
      t("develop"),
      "AWS::Logs::LogGroup",
      "ComputeWorkerLogGroup",
    );
    t("develop").hasResourceProperties("AWS::ECS::TaskDefinition", {
      Family: "dagy-develop-worker",
      Cpu: "256",
      Memory: "512",
      RequiresCompatibilities: ["FARGATE"],
      NetworkMode: "awsvpc",
      EphemeralStorage: { SizeInGiB: 21 },
      RuntimePlatform: { CpuArchitecture: "ARM64", OperatingSystemFamily: "LINUX" },
      ContainerDefinitions: [
        Match.objectLike({
          Name: "worker",
          Essential: true,
          StopTimeout: 120,
          // The worker drains within the same budget after SIGTERM (finding 12), and puts
          // its run's terminal status on the default bus.
          // ... and, in IAM mode, reaches the API for isolated maps' child runs (signed).
          Environment: [
            { Name: "DAGY_STOP_TIMEOUT_SECONDS", Value: "120" },
            { Name: "DAGY_RUN_STATUS_EVENTS", Value: "eventbridge" },
            { Name: "DAGY_API_URL", Value: Match.anyValue() },
            { Name: "DAGY_API_AUTH", Value: "sigv4" },
          ],
          LogConfiguration: {
            LogDriver: "awslogs",
            Options: {
              "awslogs-group": ref(logGroupId),
              "awslogs-stream-prefix": "worker",
              "awslogs-region": ref("AWS::Region"),
              mode: "non-blocking",
              "max-buffer-size": "26214400b",
            },
          },
        }),
      ],
    });
    t("production").hasResourceProperties("AWS::ECS::TaskDefinition", {
      Family: "dagy-production-worker",
      Cpu: "2048",
      Memory: "4096",
    });
  });

  test("worker log group: the guide's /ecs/dagy-worker in production, per-environment elsewhere, with retention", () => {
    t("production").hasResourceProperties("AWS::Logs::LogGroup", {
      LogGroupName: "/ecs/dagy-worker",
      RetentionInDays: 365,
    });
    t("develop").hasResourceProperties("AWS::Logs::LogGroup", {
      LogGroupName: "/ecs/dagy-worker-develop",
      RetentionInDays: 14,
    });
  });

  test("every log group has a retention period", () => {
    for (const env of ["develop", "production"] as const) {
      const groups = Object.values(t(env).findResources("AWS::Logs::LogGroup"));
      expect(groups.length).toBeGreaterThanOrEqual(7);
      for (const group of groups) {
        expect(group.Properties.RetentionInDays).toBe(env === "develop" ? 14 : 365);
      }
    }
  });

  test("worker task role: its run record, artifact reads, trace writes, run log streams; nothing else", () => {
    const template = t("develop");
    const id = (type: string, prefix: string) => logicalIdByPrefix(template, type, prefix);
    const roleId = id("AWS::IAM::Role", "ComputeTaskRole");
    const artifacts = id("AWS::S3::Bucket", "StorageArtifactsBucket");
    expect(statementsOfRole(template, roleId)).toEqual([
      {
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        Resource: [arnOf(id("AWS::DynamoDB::Table", "StorageRunsTable"))],
      },
      {
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: [
          objectsOf(artifacts, "flows/*"),
          objectsOf(artifacts, "dep-packages/*"),
          objectsOf(artifacts, "run-inputs/*"),
          objectsOf(artifacts, "run-outputs/*"),
        ],
      },
      {
        Effect: "Allow",
        Action: "s3:PutObject",
        // Tracebacks, and task outputs kept so a relaunched attempt resumes.
        Resource: [
          objectsOf(id("AWS::S3::Bucket", "StorageTracesBucket"), "exceptions/*"),
          objectsOf(artifacts, "run-outputs/*"),
        ],
      },
      {
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arnOf(id("AWS::Logs::LogGroup", "ComputeWorkerLogGroup")),
      },
      {
        Effect: "Allow",
        Action: "events:PutEvents",
        Resource: accountArn("events", "event-bus/default"),
      },
      // Isolated maps: ask the API for child runs, list them on the by_parent index.
      {
        Effect: "Allow",
        Action: "execute-api:Invoke",
        Resource: [
          executeApiArn(id("AWS::ApiGatewayV2::Api", "ApiHttpApi"), "POST/runs/batch"),
          executeApiArn(id("AWS::ApiGatewayV2::Api", "ApiHttpApi"), "POST/runs/*/cancel"),
        ],
      },
      {
        Effect: "Allow",
        Action: "dynamodb:Query",
        Resource: {
          "Fn::Join": [
            "",
            [arnOf(id("AWS::DynamoDB::Table", "StorageRunsTable")), "/index/by_parent"],
          ],
        },
      },
    ]);
    template.hasResourceProperties("AWS::IAM::Role", {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: "sts:AssumeRole",
            Effect: "Allow",
            Principal: { Service: "ecs-tasks.amazonaws.com" },
            Condition: {
              StringEquals: { "aws:SourceAccount": ref("AWS::AccountId") },
              ArnLike: { "aws:SourceArn": accountArn("ecs", "*") },
            },
          },
        ],
      },
      Description: Match.stringLikeRegexp("worker task role"),
    });
  });

  test("execution role trusts ecs-tasks without conditions AWS does not document for it", () => {
    const template = t("develop");
    const role = resourceByIdPrefix(template, "AWS::IAM::Role", "ComputeExecutionRole");
    expect(role.Properties!.AssumeRolePolicyDocument).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Action: "sts:AssumeRole",
          Effect: "Allow",
          Principal: { Service: "ecs-tasks.amazonaws.com" },
        },
      ],
    });
  });

  test("architecture: ARM64 by default, X86_64 when configured, for the task and the image (finding 8)", () => {
    t("develop").hasResourceProperties("AWS::ECS::TaskDefinition", {
      RuntimePlatform: { CpuArchitecture: "ARM64", OperatingSystemFamily: "LINUX" },
    });
    const x86 = buildStack({ environment: "develop", architecture: "X86_64" });
    x86.template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      RuntimePlatform: { CpuArchitecture: "X86_64", OperatingSystemFamily: "LINUX" },
    });
    // The image asset's platform, as cdk deploy builds it (the stack's asset manifest).
    const platforms = (app: App): unknown[] => {
      const assembly = app.synth();
      const manifest = assembly.artifacts.find(
        (a) => a instanceof cxapi.AssetManifestArtifact,
      ) as cxapi.AssetManifestArtifact;
      const contents = JSON.parse(fs.readFileSync(manifest.file, "utf8")) as {
        dockerImages: Record<string, { source: { platform?: string } }>;
      };
      return Object.values(contents.dockerImages).map((image) => image.source.platform);
    };
    expect(platforms(x86.app)).toEqual(["linux/amd64"]);
    expect(platforms(built.develop.app)).toEqual(["linux/arm64"]);
  });

  test("execution role: image pull, log driver, and secrets under <appName>/ only", () => {
    const template = t("develop");
    const roleId = logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeExecutionRole");
    const statements = statementsOfRole(template, roleId);
    expect(statementWith(statements, "secretsmanager:GetSecretValue").Resource).toEqual(
      accountArn("secretsmanager", "secret:dagy/*"),
    );
    expect(actionsOfRole(template, roleId)).toEqual([
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetAuthorizationToken",
      "ecr:GetDownloadUrlForLayer",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "secretsmanager:GetSecretValue",
    ]);
  });

  test("a pushed ECR image is pulled from its repository, and configured secret patterns replace the default", () => {
    const template = t("variant");
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      ContainerDefinitions: [
        Match.objectLike({
          Image: {
            "Fn::Join": [
              "",
              ["123456789012.dkr.ecr.eu-west-1.", ref("AWS::URLSuffix"), "/dagy-worker:v1.0.0"],
            ],
          },
        }),
      ],
    });
    const roleId = logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeExecutionRole");
    const statements = statementsOfRole(template, roleId);
    expect(statementWith(statements, "ecr:BatchGetImage").Resource).toEqual({
      "Fn::Join": [
        "",
        ["arn:", ref("AWS::Partition"), ":ecr:eu-west-1:123456789012:repository/dagy-worker"],
      ],
    });
    expect(statementWith(statements, "secretsmanager:GetSecretValue").Resource).toBe(
      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/*",
    );
  });
});

describe("functions", () => {
  const roleOf = (template: Template, name: string) =>
    logicalIdByPrefix(template, "AWS::IAM::Role", `Functions${name}Role`);

  test("house defaults: Node.js 22, ARM64, source maps, JSON logs to a log group with retention", () => {
    const template = t("develop");
    for (const name of ["api", "registration", "launch", "task-events", "reconcile"]) {
      template.hasResourceProperties("AWS::Lambda::Function", {
        FunctionName: `dagy-develop-${name}`,
        Runtime: "nodejs22.x",
        Architectures: ["arm64"],
        Handler: "index.handler",
        Environment: {
          Variables: Match.objectLike({ NODE_OPTIONS: "--enable-source-maps" }),
        },
        LoggingConfig: Match.objectLike({ LogFormat: "JSON" }),
      });
      template.hasResourceProperties("AWS::Logs::LogGroup", {
        LogGroupName: `/aws/lambda/dagy-develop-${name}`,
        RetentionInDays: 14,
      });
    }
    // Roles are ours, not AWSLambdaBasicExecutionRole (which may write any log group).
    for (const name of ["Api", "Registration", "Launch", "TaskEvents", "Reconcile"]) {
      const role = resourceByIdPrefix(template, "AWS::IAM::Role", `Functions${name}Role`);
      expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    }
  });

  test("launchers get every DAGY_* launcher variable, the tables and the task definition", () => {
    const template = t("develop");
    for (const name of ["api", "launch"]) {
      const fn = Object.values(template.findResources("AWS::Lambda::Function")).find(
        (f) => f.Properties.FunctionName === `dagy-develop-${name}`,
      );
      const variables = Object.keys(fn!.Properties.Environment.Variables as object);
      for (const required of [
        ...Object.values(LAUNCHER_ENV),
        PLATFORM_ENV.taskDefinition,
        PLATFORM_ENV.containerName,
        PLATFORM_ENV.flowsTable,
        PLATFORM_ENV.runsTable,
        PLATFORM_ENV.deploymentsTable,
        PLATFORM_ENV.depPackagesTable,
        FUNCTION_ENV.environment,
      ]) {
        expect(variables).toContain(required);
      }
      expect(fn!.Properties.Environment.Variables).toMatchObject({
        DAGY_ECS_CONTAINER_NAME: "worker",
        DAGY_ECS_TASK_DEFINITION: "dagy-develop-worker",
        DAGY_ENVIRONMENT: "develop",
        DAGY_COMPUTE_BACKEND: "ecs",
      });
    }
  });

  test("launchers know the profile that sized the task definition (finding 2)", () => {
    for (const [env, profile] of [
      ["develop", "small"],
      ["staging", "medium"],
      ["production", "large"],
    ] as const) {
      for (const name of ["Api", "Launch"]) {
        const fn = resourceByIdPrefix(t(env), "AWS::Lambda::Function", `Functions${name}`);
        expect(
          (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables,
        ).toMatchObject({ DAGY_DEFAULT_WORKLOAD_PROFILE: profile, DAGY_ENVIRONMENT: env });
      }
    }
  });

  test("the API knows its auth mode, schedule prefix, launch target and Scheduler role and group", () => {
    const fn = Object.values(t("variant").findResources("AWS::Lambda::Function")).find(
      (f) => f.Properties.FunctionName === "dagy-staging-api",
    );
    const template = t("variant");
    expect(fn!.Properties.Environment.Variables).toMatchObject({
      DAGY_API_AUTH_MODE: "jwt",
      DAGY_API_ORG_CLAIM: "custom:org",
      DAGY_SCHEDULE_RULE_PREFIX: "dagy-staging-",
      DAGY_LAUNCH_FUNCTION_ARN: arnOf(
        logicalIdByPrefix(template, "AWS::Lambda::Function", "FunctionsLaunchFunction"),
      ),
      DAGY_SCHEDULER_ROLE_ARN: arnOf(
        logicalIdByPrefix(template, "AWS::IAM::Role", "SchedulesSchedulerRole"),
      ),
      DAGY_SCHEDULER_GROUP: "dagy-staging",
    });
  });

  test("launcher roles: RunTask on the worker family in this cluster, PassRole on exactly the two worker roles", () => {
    const template = t("develop");
    const clusterArn = arnOf(logicalIdByPrefix(template, "AWS::ECS::Cluster", "ComputeCluster"));
    const clusterRef = ref(logicalIdByPrefix(template, "AWS::ECS::Cluster", "ComputeCluster"));
    const taskArns = {
      "Fn::Join": [
        "",
        [
          "arn:",
          ref("AWS::Partition"),
          ":ecs:",
          ref("AWS::Region"),
          ":",
          ref("AWS::AccountId"),
          ":task/",
          clusterRef,
          "/*",
        ],
      ],
    };
    for (const name of ["Api", "Launch"]) {
      const statements = statementsOfRole(template, roleOf(template, name));
      expect(statementWith(statements, "ecs:RunTask")).toEqual({
        Effect: "Allow",
        Action: "ecs:RunTask",
        Resource: [
          accountArn("ecs", "task-definition/dagy-develop-worker:*"),
          accountArn("ecs", "task-definition/dagy-develop-worker-*:*"),
        ],
        Condition: { ArnEquals: { "ecs:cluster": clusterArn } },
      });
      expect(statementsWith(statements, "iam:PassRole")).toContainEqual({
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: [
          arnOf(logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeTaskRole")),
          arnOf(logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeExecutionRole")),
        ],
        Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
      });
      expect(statementWith(statements, "ecs:StopTask")).toEqual({
        Effect: "Allow",
        Action: ["ecs:StopTask", "ecs:DescribeTasks"],
        Resource: taskArns,
        Condition: { ArnEquals: { "ecs:cluster": clusterArn } },
      });
      expect(statementWith(statements, "ecs:RegisterTaskDefinition")).toEqual({
        Effect: "Allow",
        Action: ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"],
        Resource: "*",
      });
      const artifacts = logicalIdByPrefix(template, "AWS::S3::Bucket", "StorageArtifactsBucket");
      // Both write only spilled parameters: registering is the registration function's.
      expect(statementWith(statements, "s3:PutObject").Resource).toEqual(
        objectsOf(artifacts, "run-inputs/*"),
      );
    }
    const api = statementsOfRole(template, roleOf(template, "Api"));
    expect(statementsWith(api, "s3:DeleteObject")).toEqual([]);
    // Reading flows (launches, the flow routes) and packages (deployments): no writes.
    for (const table of ["StorageFlowsTable", "StorageDepPackagesTable"]) {
      const tableArn = arnOf(logicalIdByPrefix(template, "AWS::DynamoDB::Table", table));
      for (const statement of api.filter((st) => JSON.stringify(st.Resource).includes(table))) {
        expect(statement.Resource).toContainEqual(tableArn);
        expect(statement.Action).not.toContain("dynamodb:PutItem");
      }
    }
    // The worker log group only (its Arn ends in `:*`, covering the group's streams).
    expect(statementWith(api, "logs:GetLogEvents").Resource).toContainEqual(
      arnOf(logicalIdByPrefix(template, "AWS::Logs::LogGroup", "ComputeWorkerLogGroup")),
    );
    expect(actionsOfRole(template, roleOf(template, "Launch"))).toEqual([
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
      "ecs:DescribeTaskDefinition",
      "ecs:DescribeTasks",
      "ecs:RegisterTaskDefinition",
      "ecs:RunTask",
      "ecs:StopTask",
      "ecs:TagResource",
      "iam:PassRole",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "s3:PutObject",
      // The on-failure destination (the failed-invocations queue).
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:SendMessage",
    ]);
  });

  test("registration role: registry keys of the artifacts bucket, the flows and dep-packages tables; nothing else", () => {
    const template = t("develop");
    const artifacts = logicalIdByPrefix(template, "AWS::S3::Bucket", "StorageArtifactsBucket");
    const registry = ["uploads/*", "flows/*", "dep-packages/*"].map((p) => objectsOf(artifacts, p));
    // CDK's read-write set, on the table and (dep-packages has one) its indexes; the stream
    // actions come as their own statement.
    const tableAccess = (table: string, indexes: boolean) => {
      const id = logicalIdByPrefix(template, "AWS::DynamoDB::Table", table);
      const Resource = [
        arnOf(id),
        ...(indexes ? [{ "Fn::Join": ["", [arnOf(id), "/index/*"]] }] : []),
      ];
      return [
        {
          Effect: "Allow",
          Action: [
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:GetItem",
            "dynamodb:Scan",
            "dynamodb:ConditionCheckItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:DescribeTable",
          ],
          Resource,
        },
        { Effect: "Allow", Action: ["dynamodb:GetRecords", "dynamodb:GetShardIterator"], Resource },
      ];
    };
    expect(statementsOfRole(template, roleOf(template, "Registration"))).toEqual([
      {
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: arnOf(
          logicalIdByPrefix(template, "AWS::Logs::LogGroup", "FunctionsRegistration"),
        ),
      },
      { Effect: "Allow", Action: "s3:GetObject", Resource: registry },
      { Effect: "Allow", Action: "s3:PutObject", Resource: registry },
      { Effect: "Allow", Action: "s3:DeleteObject", Resource: objectsOf(artifacts, "uploads/*") },
      ...tableAccess("StorageFlowsTable", false),
      ...tableAccess("StorageDepPackagesTable", true),
    ]);
  });

  test("the API manages runtime schedules only under its prefix and group", () => {
    const template = t("develop");
    const statements = statementsOfRole(template, roleOf(template, "Api"));
    expect(statementWith(statements, "events:PutRule").Resource).toEqual(
      accountArn("events", "rule/dagy-develop-*"),
    );
    const groupRef = ref(
      logicalIdByPrefix(template, "AWS::Scheduler::ScheduleGroup", "SchedulesRuntimeScheduleGroup"),
    );
    expect(statementWith(statements, "scheduler:CreateSchedule")).toEqual({
      Effect: "Allow",
      Action: [
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
      ],
      Resource: accountArn("scheduler", "schedule/dagy-develop/dagy-develop-*"),
    });
    expect(
      statements.find(
        (s) =>
          JSON.stringify(s.Resource) ===
          JSON.stringify(
            arnOf(logicalIdByPrefix(template, "AWS::IAM::Role", "SchedulesSchedulerRole")),
          ),
      ),
    ).toEqual({
      Effect: "Allow",
      Action: "iam:PassRole",
      Resource: arnOf(logicalIdByPrefix(template, "AWS::IAM::Role", "SchedulesSchedulerRole")),
      Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    });
    template.hasResourceProperties("AWS::Scheduler::ScheduleGroup", { Name: "dagy-develop" });
    expect(groupRef).toEqual({ Ref: expect.stringMatching(/^SchedulesRuntimeScheduleGroup/) });
    // One permission lets every runtime rule invoke the launch function; no lambda:AddPermission.
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      Principal: "events.amazonaws.com",
      SourceArn: accountArn("events", "rule/dagy-develop-*"),
      SourceAccount: ref("AWS::AccountId"),
    });
    expect(actionsOfRole(template, roleOf(template, "Api"))).not.toContain("lambda:AddPermission");
  });

  test("task-events and reconcile settle and relaunch runs: the runs table and worker task control; nothing else", () => {
    const template = t("develop");
    const runsArn = arnOf(logicalIdByPrefix(template, "AWS::DynamoDB::Table", "StorageRunsTable"));
    const launchActions = actionsOfRole(template, roleOf(template, "Launch")).filter(
      (a) => a.startsWith("ecs:") || a === "iam:PassRole",
    );
    for (const name of ["TaskEvents", "Reconcile"]) {
      const statements = statementsOfRole(template, roleOf(template, name));
      // task-events finds a run by its task ARN (by_task_arn), the sweep lists stale runs.
      expect(statementWith(statements, "dynamodb:UpdateItem")).toEqual({
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        Resource: [runsArn, { "Fn::Join": ["", [runsArn, "/index/*"]] }],
      });
      expect(statementWith(statements, "events:PutEvents").Resource).toEqual(
        accountArn("events", "event-bus/default"),
      );
      // A relaunch is a launch: exactly the launcher's task control, no other data.
      expect(actionsOfRole(template, roleOf(template, name))).toEqual(
        [
          "dynamodb:GetItem",
          "dynamodb:Query",
          "dynamodb:UpdateItem",
          ...launchActions,
          "events:PutEvents", // the closed run's status event, on the default bus only
          "logs:CreateLogStream",
          "logs:PutLogEvents",
          "sqs:GetQueueAttributes", // the on-failure destination
          "sqs:GetQueueUrl",
          "sqs:SendMessage",
        ].sort(),
      );
    }
  });

  test("a stack's maxRelaunches reaches every function that launches or relaunches", () => {
    const functions = Object.values(t("variant").findResources("AWS::Lambda::Function"));
    const values = functions.map(
      (fn) =>
        (fn.Properties.Environment?.Variables as Record<string, unknown> | undefined)?.[
          "DAGY_MAX_RELAUNCHES"
        ],
    );
    expect(values.filter((v) => v !== undefined)).toEqual(["1", "1", "1", "1"]);
    const plain = Object.values(t("develop").findResources("AWS::Lambda::Function"));
    expect(
      plain.some((fn) => "DAGY_MAX_RELAUNCHES" in (fn.Properties.Environment?.Variables ?? {})),
    ).toBe(false);
  });

  test("no statement grants a data action on every resource", () => {
    const allowedOnStar = new Set([
      "ecs:RegisterTaskDefinition",
      "ecs:DescribeTaskDefinition",
      "ecr:GetAuthorizationToken",
      "events:ListRules",
      "scheduler:ListSchedules",
    ]);
    for (const name of ["develop", "variant"] as const) {
      for (const policy of Object.values(t(name).findResources("AWS::IAM::Policy"))) {
        for (const statement of policy.Properties.PolicyDocument.Statement) {
          if ([statement.Resource].flat().includes("*")) {
            for (const action of [statement.Action].flat()) expect(allowedOnStar).toContain(action);
          }
        }
      }
    }
  });
});

describe("events and schedules", () => {
  test("task-events rule: STOPPED tasks of this cluster only", () => {
    const template = t("develop");
    const clusterArn = arnOf(logicalIdByPrefix(template, "AWS::ECS::Cluster", "ComputeCluster"));
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        detail: { clusterArn: [clusterArn], lastStatus: ["STOPPED"] },
      },
      Targets: [
        Match.objectLike({
          Arn: arnOf(
            logicalIdByPrefix(template, "AWS::Lambda::Function", "FunctionsTaskEventsFunction"),
          ),
        }),
      ],
    });
  });

  test("the reconcile sweep runs every 5 minutes", () => {
    const template = t("develop");
    template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(5 minutes)",
      State: "ENABLED",
      Targets: [
        Match.objectLike({
          Arn: arnOf(
            logicalIdByPrefix(template, "AWS::Lambda::Function", "FunctionsReconcileFunction"),
          ),
        }),
      ],
    });
  });

  test("a UTC config schedule is a rule sending the guide's launch event, keyed by the firing time", () => {
    const template = t("variant");
    const rule = resourceByIdPrefix(template, "AWS::Events::Rule", "SchedulesRuleetldaily");
    expect(rule.Properties).toMatchObject({
      Name: "dagy-cfg-staging-etl-daily",
      ScheduleExpression: "cron(0 9 * * ? *)",
      State: "ENABLED",
    });
    const target = (rule.Properties!.Targets as Record<string, unknown>[])[0]!;
    expect(target).toMatchObject({
      Arn: arnOf(logicalIdByPrefix(template, "AWS::Lambda::Function", "FunctionsLaunchFunction")),
      RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      InputTransformer: { InputPathsMap: { time: "$.time" } },
    });
    const inputTemplate = (target.InputTransformer as { InputTemplate: string }).InputTemplate;
    expect(inputTemplate).toBe(
      '{"action":"launch","flow_name":"etl_pipeline","org_id":"acme-corp","environment":"staging",' +
        '"flow_version":"1.0.0","parameters":{"source":"s3://data-input"},"workload_profile":"large",' +
        '"deployment_name":"production","trigger_source":"schedule",' +
        '"triggered_by":"dagy-cfg-staging-etl-daily",' +
        '"idempotency_key":"dagy-cfg-staging-etl-daily@<time>"}',
    );
  });

  test("a config schedule with a time zone is an EventBridge Scheduler schedule in that zone", () => {
    const template = t("variant");
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      Name: "dagy-cfg-staging-berlin-morning",
      ScheduleExpression: "cron(0 7 ? * MON-FRI *)",
      ScheduleExpressionTimezone: "Europe/Berlin",
      State: "DISABLED",
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: arnOf(logicalIdByPrefix(template, "AWS::Lambda::Function", "FunctionsLaunchFunction")),
        RoleArn: arnOf(logicalIdByPrefix(template, "AWS::IAM::Role", "SchedulesSchedulerRole")),
        Input:
          '{"action":"launch","flow_name":"report","org_id":"acme-corp","environment":"staging",' +
          '"trigger_source":"schedule","triggered_by":"dagy-cfg-staging-berlin-morning",' +
          '"idempotency_key":"dagy-cfg-staging-berlin-morning@<aws.scheduler.scheduled-time>"}',
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      },
    });
  });
});

describe("api", () => {
  test("every route, all behind IAM authorization by default", () => {
    const template = t("develop");
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route"));
    expect(routes.map((r) => r.Properties.RouteKey as string).sort()).toEqual(
      API_ROUTES.map(routeKey).sort(),
    );
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe("AWS_IAM");
    template.resourceCountIs("AWS::ApiGatewayV2::Authorizer", 0);
  });

  test("each route is integrated with the function its table entry names", () => {
    const template = t("develop");
    const integrations = template.findResources("AWS::ApiGatewayV2::Integration");
    // A route's Target is `integrations/<Ref to its integration>`; the integration's URI is
    // its function's Arn.
    const functionOf = (routeTarget: unknown): string => {
      const target = routeTarget as { "Fn::Join": [string, [string, { Ref: string }]] };
      const integration = integrations[target["Fn::Join"][1][1].Ref];
      const uri = integration?.Properties.IntegrationUri as { "Fn::GetAtt": [string, string] };
      return uri["Fn::GetAtt"][0];
    };
    const expected = {
      api: logicalIdByPrefix(template, "AWS::Lambda::Function", "FunctionsApiFunction"),
      registration: logicalIdByPrefix(
        template,
        "AWS::Lambda::Function",
        "FunctionsRegistrationFunction",
      ),
    };
    expect(Object.keys(integrations)).toHaveLength(2);
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route"));
    for (const route of API_ROUTES) {
      const resource = routes.find((r) => r.Properties.RouteKey === routeKey(route));
      expect([route.name, functionOf(resource!.Properties.Target)]).toEqual([
        route.name,
        expected[route.fn],
      ]);
    }
    expect(API_ROUTES.filter((r) => r.fn === "registration").map((r) => r.name)).toEqual([
      "commitFlowVersion",
      "createFlowUpload",
      "listPackages",
      "commitPackage",
      "createPackageUpload",
    ]);
  });

  test("JWT mode: one JWT authorizer with the issuer and audience on every route", () => {
    const template = t("variant");
    template.hasResourceProperties("AWS::ApiGatewayV2::Authorizer", {
      AuthorizerType: "JWT",
      IdentitySource: ["$request.header.Authorization"],
      JwtConfiguration: { Issuer: "https://auth.example.com/", Audience: ["dagy-api"] },
    });
    const authorizerId = logicalIdByPrefix(template, "AWS::ApiGatewayV2::Authorizer", "ApiHttpApi");
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route"));
    expect(routes).toHaveLength(API_ROUTES.length);
    for (const route of routes) {
      expect(route.Properties).toMatchObject({
        AuthorizationType: "JWT",
        AuthorizerId: ref(authorizerId),
      });
    }
  });

  test("isolated maps: the worker gets the API's own URL (no dependency cycle) and signs; the API knows the worker's role", () => {
    const template = t("develop");
    const apiId = logicalIdByPrefix(template, "AWS::ApiGatewayV2::Api", "ApiHttpApi");
    const taskRoleId = logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeTaskRole");
    const container = (
      resourceByIdPrefix(template, "AWS::ECS::TaskDefinition", "ComputeWorkerTaskDefinition")
        .Properties?.ContainerDefinitions as Array<{ Environment: unknown[] }>
    )[0]!;
    expect(container.Environment).toContainEqual({
      Name: "DAGY_API_URL",
      Value: {
        "Fn::Join": [
          "",
          [
            "https://",
            ref(apiId),
            ".execute-api.",
            ref("AWS::Region"),
            ".",
            ref("AWS::URLSuffix"),
            "/",
          ],
        ],
      },
    });
    expect(container.Environment).toContainEqual({ Name: "DAGY_API_AUTH", Value: "sigv4" });
    // The API tells the worker's signed calls from an administrator's by its task role.
    const api = resourceByIdPrefix(template, "AWS::Lambda::Function", "FunctionsApi");
    expect(api.Properties?.Environment).toMatchObject({
      Variables: { [LAUNCHER_ENV.taskRoleArn]: arnOf(taskRoleId) },
    });
  });

  test("JWT mode: the worker gets no API URL and no execute-api or by_parent grant (isolated maps run in-process)", () => {
    const template = t("variant");
    const container = (
      resourceByIdPrefix(template, "AWS::ECS::TaskDefinition", "ComputeWorkerTaskDefinition")
        .Properties?.ContainerDefinitions as Array<{ Environment: Array<{ Name: string }> }>
    )[0]!;
    expect(container.Environment.map((e) => e.Name)).not.toContain("DAGY_API_URL");
    const roleId = logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeTaskRole");
    const actions = statementsOfRole(template, roleId).flatMap((st) => [st.Action].flat());
    expect(actions).not.toContain("execute-api:Invoke");
    expect(actions).not.toContain("dynamodb:Query");
  });

  test("the $default stage writes JSON access logs and throttles", () => {
    const template = t("develop");
    const logGroupId = logicalIdByPrefix(template, "AWS::Logs::LogGroup", "ApiAccessLogs");
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: arnOf(logGroupId),
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
      DefaultRouteSettings: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 },
    });
  });
});

describe("secrets", () => {
  test("a customer-managed key for secrets lets the execution role decrypt through Secrets Manager only", () => {
    const template = t("variant");
    const role = logicalIdByPrefix(template, "AWS::IAM::Role", "ComputeExecutionRole");
    expect(statementWith(statementsOfRole(template, role), "kms:Decrypt")).toEqual({
      Effect: "Allow",
      Action: "kms:Decrypt",
      Resource: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      Condition: {
        StringEquals: {
          "kms:ViaService": {
            "Fn::Join": ["", ["secretsmanager.", ref("AWS::Region"), ".amazonaws.com"]],
          },
        },
      },
    });
    // Without one, no KMS permission at all.
    const develop = t("develop");
    const developRole = logicalIdByPrefix(develop, "AWS::IAM::Role", "ComputeExecutionRole");
    expect(statementsWith(statementsOfRole(develop, developRole), "kms:Decrypt")).toEqual([]);
  });

  test("the api checks secrets against the execution role's patterns and the app's name prefix", () => {
    const template = t("develop");
    const api = Object.values(template.findResources("AWS::Lambda::Function")).find((f) =>
      String(f.Properties.FunctionName).endsWith("-api"),
    )!;
    expect(api.Properties.Environment.Variables).toMatchObject({
      DAGY_SECRET_NAME_PREFIX: "dagy/",
      DAGY_SECRET_ARN_PATTERNS: expect.anything(),
    });
  });
});

describe("operations (finding 9)", () => {
  test("every alarm notifies the alarm topic on ALARM and OK; the topic's ARN is an output", () => {
    const template = t("develop");
    const topic = ref(logicalIdByPrefix(template, "AWS::SNS::Topic", "MonitoringAlarmTopic"));
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms.length).toBeGreaterThanOrEqual(6);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([topic]);
      expect(alarm.Properties.OKActions).toEqual([topic]);
    }
    template.hasOutput("DagyAlarmTopicArn", { Value: topic });
    template.resourceCountIs("AWS::SNS::Subscription", 0);
    buildStack({
      environment: "develop",
      alarmEmail: "oncall@example.com",
    }).template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "oncall@example.com",
      TopicArn: topic,
    });
  });

  test("launch, task-events and reconcile send failed async invocations to a queue with an alarm", () => {
    const template = t("develop");
    const queueId = logicalIdByPrefix(template, "AWS::SQS::Queue", "MonitoringFailedInvocations");
    for (const name of ["Launch", "TaskEvents", "Reconcile"]) {
      const fnId = logicalIdByPrefix(template, "AWS::Lambda::Function", `Functions${name}`);
      template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: ref(fnId),
        DestinationConfig: { OnFailure: { Destination: arnOf(queueId) } },
      });
    }
    template.resourceCountIs("AWS::Lambda::EventInvokeConfig", 3);
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "dagy-develop-failed-invocations",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [queueId, "QueueName"] } }],
      Threshold: 1,
    });
  });
});

describe("run metrics (finding 9)", () => {
  test("the worker's run_status_change lines count terminal runs per environment", () => {
    const template = t("develop");
    const group = ref(logicalIdByPrefix(template, "AWS::Logs::LogGroup", "ComputeWorkerLogGroup"));
    for (const [status, metric] of [
      ["SUCCEEDED", "RunsSucceeded"],
      ["FAILED", "RunsFailed"],
      ["CANCELLED", "RunsCancelled"],
    ]) {
      template.hasResourceProperties("AWS::Logs::MetricFilter", {
        LogGroupName: group,
        FilterPattern: `{ ($.event_type = "run_status_change") && ($.status = "${status}") }`,
        MetricTransformations: [
          {
            MetricNamespace: "Dagy",
            MetricName: metric,
            MetricValue: "1",
            Dimensions: [{ Key: "Environment", Value: "$.environment" }],
          },
        ],
      });
    }
  });
});

describe("runtime configuration coverage", () => {
  const FUNCTIONS = {
    api: "api",
    registration: "registration",
    launch: "launch",
    "task-events": "task-events",
    reconcile: "reconcile",
  } as const;

  test.each(["develop", "staging", "production", "variant"] as const)(
    "every Lambda of %s gets every variable its entry point requires, and none it does not read",
    (name) => {
      const template = t(name);
      const functions = Object.values(template.findResources("AWS::Lambda::Function"));
      for (const [entry, suffix] of Object.entries(FUNCTIONS)) {
        const fn = functions.find((f) =>
          String(f.Properties.FunctionName ?? "").endsWith(`-${suffix}`),
        );
        expect(fn).toBeDefined();
        const variables = Object.keys(
          (fn!.Properties.Environment?.Variables ?? {}) as Record<string, unknown>,
        ).filter((v) => v !== "NODE_OPTIONS" && v !== "AWS_NODEJS_CONNECTION_REUSE_ENABLED");
        const spec = ENTRY_POINT_VARIABLES[entry as EntryPoint];
        // The stack runs ECS, so the ECS-only variables are required too.
        expect([entry, variables]).toEqual([
          entry,
          expect.arrayContaining([...spec.required, ...spec.ecsOnly]),
        ]);
        const known = new Set([...spec.required, ...spec.ecsOnly, ...spec.optional]);
        expect([entry, variables.filter((v) => !known.has(v))]).toEqual([entry, []]);
      }
    },
  );

  test("the outputs carry what a client needs to reach the API", () => {
    const outputs = t("develop").toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.DagyApiAuthMode!.Value).toBe("iam");
    const variant = t("variant").toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(variant.DagyApiAuthMode!.Value).toBe("jwt");
  });
});

describe("outputs", () => {
  test("one output per DAGY_* variable in STACK_OUTPUTS, plus the API URL and task definition ARN", () => {
    const outputs = t("develop").toJSON().Outputs as Record<
      string,
      { Description: string; Value: unknown }
    >;
    for (const [key, variable] of Object.entries(STACK_OUTPUTS)) {
      expect(outputs[key]).toBeDefined();
      expect(outputs[key]!.Description).toBe(variable);
    }
    expect(outputs.DagyEcsContainerName!.Value).toBe("worker");
    expect(outputs.DagyEcsTaskDefinition!.Value).toBe("dagy-develop-worker");
    expect(outputs.DagyEcsLogGroup!.Value).toEqual(
      ref(logicalIdByPrefix(t("develop"), "AWS::Logs::LogGroup", "ComputeWorkerLogGroup")),
    );
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(["DagyApiUrl", "DagyEcsTaskDefinitionArn", "DagyLaunchFunctionArn"]),
    );
  });

  test("subnets and security groups are comma-separated lists of the worker subnets and group", () => {
    const template = t("develop");
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const privateSubnets = Object.keys(template.findResources("AWS::EC2::Subnet")).filter((id) =>
      id.includes("workers"),
    );
    expect(privateSubnets).toHaveLength(2);
    expect(outputs.DagyEcsSubnets!.Value).toEqual({
      "Fn::Join": ["", [ref(privateSubnets[0]!), ",", ref(privateSubnets[1]!)]],
    });
    const securityGroupId = logicalIdByPrefix(
      template,
      "AWS::EC2::SecurityGroup",
      "NetworkWorkerSecurityGroup",
    );
    expect(outputs.DagyEcsSecurityGroups!.Value).toEqual({
      "Fn::GetAtt": [securityGroupId, "GroupId"],
    });
  });
});

describe("network", () => {
  test("develop: 2 AZs, one NAT gateway, S3 and DynamoDB gateway endpoints, rejected-traffic flow log", () => {
    const template = t("develop");
    template.resourceCountIs("AWS::EC2::NatGateway", 1);
    template.resourceCountIs("AWS::EC2::Subnet", 4);
    template.resourceCountIs("AWS::EC2::VPCEndpoint", 2);
    template.hasResourceProperties("AWS::EC2::FlowLog", { TrafficType: "REJECT" });
    template.hasResourceProperties("AWS::EC2::SecurityGroup", {
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [
        { CidrIp: "0.0.0.0/0", IpProtocol: "-1", Description: Match.anyValue() },
      ],
    });
    t("production").resourceCountIs("AWS::EC2::NatGateway", 2);
  });
});

describe("the CDK app entry", () => {
  const newApp = (context: Record<string, unknown>) =>
    new App({ context: { "aws:cdk:bundling-stacks": [], ...context } });

  test("reads the environment from context and names the stack after it", () => {
    const stack = buildDagyApp(newApp({ environment: "staging" }), { nag: false });
    expect(stack.stackName).toBe("Dagy-staging");
  });

  test("merges a config file named by the `config` context", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dagy-config-"));
    fs.writeFileSync(
      path.join(dir, "prod.json"),
      JSON.stringify({ appName: "acme", logRetentionDays: 90 }),
    );
    const config = configFromContext(
      newApp({ environment: "production", config: "prod.json" }),
      dir,
    );
    expect(config).toMatchObject({
      environment: "production",
      appName: "acme",
      logRetentionDays: 90,
    });
  });

  test("`warmPool` context (JSON text from -c, or an array in cdk.json) overrides the config file's", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dagy-config-"));
    fs.writeFileSync(
      path.join(dir, "c.json"),
      JSON.stringify({ warmPool: [{ profile: "large", size: 1 }] }),
    );
    const fromFile = configFromContext(newApp({ environment: "develop", config: "c.json" }), dir);
    expect(fromFile.warmPool).toEqual([{ profile: "large", size: 1 }]);
    const fromText = configFromContext(
      newApp({
        environment: "develop",
        config: "c.json",
        warmPool: '[{"profile":"small","size":2}]',
      }),
      dir,
    );
    expect(fromText.warmPool).toEqual([{ profile: "small", size: 2 }]);
    const fromArray = configFromContext(
      newApp({ environment: "develop", warmPool: [{ profile: "medium", size: 3 }] }),
      dir,
    );
    expect(fromArray.warmPool).toEqual([{ profile: "medium", size: 3 }]);
    expect(() =>
      configFromContext(newApp({ environment: "develop", warmPool: "[{profile:small}]" }), dir),
    ).toThrow('context "warmPool" must be a JSON array such as [{"profile":"small","size":2}]');
    expect(() =>
      configFromContext(newApp({ environment: "develop", warmPool: '[{"profile":"small"}]' }), dir),
    ).toThrow("warmPool[0].size: must be a whole number from 1 to 50");
  });

  test("fails when the config file names another environment", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dagy-config-"));
    fs.writeFileSync(path.join(dir, "c.json"), JSON.stringify({ environment: "production" }));
    expect(() =>
      configFromContext(newApp({ environment: "develop", config: "c.json" }), dir),
    ).toThrow(
      "config file " +
        path.join(dir, "c.json") +
        ' sets environment "production" but context environment is "develop"',
    );
  });

  test("fails when the context environment is invalid, naming the field", () => {
    expect(() => buildDagyApp(newApp({ environment: "qa" }), { nag: false })).toThrow(
      ConfigurationError,
    );
    expect(() => buildDagyApp(newApp({ environment: "qa" }), { nag: false })).toThrow(
      'environment: "qa" is not an environment; allowed: develop, staging, production',
    );
  });

  test("fails when an existing VPC is looked up without account and region", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dagy-config-"));
    fs.writeFileSync(
      path.join(dir, "c.json"),
      JSON.stringify({ vpc: { vpcId: "vpc-0123456789abcdef0" } }),
    );
    expect(() =>
      buildDagyApp(newApp({ environment: "develop", config: "c.json" }), { cwd: dir, nag: false }),
    ).toThrow("vpc.vpcId: looking up an existing VPC needs the account and region");
  });
});
