import { ArnFormat, Duration, RemovalPolicy, Size, Stack } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { WORKLOAD_PROFILES, type WorkloadProfile } from "../../launcher/types";
import { WORKER_CONTAINER_NAME } from "../../config/worker-container";
import { WORKER_EXTRA_ENV } from "../../worker/config";
import type { WorkerImageConfig } from "../config";
import { acknowledgeRule, acknowledgeWildcards } from "../nag";
import { grantDefaultBusPutEvents } from "./events-grants";
import { REPO_ROOT, WORKER_ASSET_EXCLUDES, WORKER_DOCKERFILE } from "../paths";

/** Key prefix of the artifacts bucket where workers keep large task outputs (read on resume). */
export const WORKER_OUTPUTS_PREFIX = "run-outputs/*";
/** The worker container's stop timeout (Fargate's maximum); the worker drains within it. */
export const WORKER_STOP_TIMEOUT_SECONDS = 120;

/** Key prefixes of the artifacts bucket the worker reads. */
export const WORKER_ARTIFACT_READ_PREFIXES = [
  "flows/*",
  "dep-packages/*",
  "run-inputs/*",
  WORKER_OUTPUTS_PREFIX,
] as const;
/** Key prefix of the traces bucket the worker writes. */
export const WORKER_TRACES_WRITE_PREFIX = "exceptions/*";

export interface ComputeConstructProps {
  /** `<appName>-<env>`: the cluster name and the task definition family `<prefix>-worker`. */
  readonly resourcePrefix: string;
  readonly appName: string;
  readonly vpc: ec2.IVpc;
  readonly workerImage: WorkerImageConfig;
  /** Sizes the task definition; launches override cpu/memory per run. */
  readonly workloadProfile: WorkloadProfile;
  /** CPU architecture of the task and of the image built from Dockerfile.worker. */
  readonly architecture: "ARM64" | "X86_64";
  /** Worker log group, e.g. `/ecs/dagy-worker` (`DAGY_ECS_LOG_GROUP`). */
  readonly logGroupName: string;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly runsTable: dynamodb.ITable;
  readonly artifactsBucket: s3.IBucket;
  readonly tracesBucket: s3.IBucket;
  /**
   * Secrets Manager ARN patterns runs may inject. Secret ARNs end in a random suffix, so these
   * are patterns. Default `arn:<partition>:secretsmanager:<region>:<account>:secret:<appName>/*`.
   */
  readonly secretArnPatterns?: readonly string[];
  /** Customer-managed key of the secrets: the execution role may decrypt with it. */
  readonly secretsKmsKeyArn?: string;
}

/**
 * The ECS cluster and the worker task definition: one Fargate task per run, ARM64, the worker
 * container logging to the worker log group, and two roles — the execution role (image pull,
 * log driver, secret injection) and the least-privilege task role the worker's code runs as.
 */
export class ComputeConstruct extends Construct {
  /** Secrets the execution role may read (what launches may name): the api checks them. */
  secretArnPatterns: readonly string[] = [];
  /** `<appName>/`: an org's secrets are named `<appName>/<org_id>/...`. */
  secretNamePrefix = "";
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly logGroup: logs.LogGroup;
  readonly taskRole: iam.Role;
  readonly executionRole: iam.Role;
  private readonly taskRolePrincipal: iam.IPrincipal;
  private readonly architecture: ComputeConstructProps["architecture"];
  private readonly props: ComputeConstructProps;

  constructor(scope: Construct, id: string, props: ComputeConstructProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.props = props;
    this.architecture = props.architecture;

    this.cluster = new ecs.Cluster(this, "Cluster", {
      clusterName: props.resourcePrefix,
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      enableFargateCapacityProviders: true,
    });

    this.logGroup = new logs.LogGroup(this, "WorkerLogGroup", {
      logGroupName: props.logGroupName,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    // The task role: only ECS tasks of this account and region may assume it (confused-deputy
    // guard). AWS documents aws:SourceAccount / aws:SourceArn for the task IAM role's trust
    // policy; its trust policy for the task execution role has no conditions, and the ECS
    // agent's assume-role for the execution role is not documented to carry them, so that
    // role keeps the plain service principal.
    this.taskRolePrincipal = new iam.ServicePrincipal("ecs-tasks.amazonaws.com", {
      conditions: {
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnLike: {
          "aws:SourceArn": stack.formatArn({ service: "ecs", resource: "*" }),
        },
      },
    });
    this.executionRole = new iam.Role(this, "ExecutionRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: "Dagy worker task execution role: image pull, log driver, secret injection",
    });
    this.taskRole = new iam.Role(this, "TaskRole", {
      assumedBy: this.taskRolePrincipal,
      description:
        "Dagy worker task role: its run record, artifacts, trace objects, run log streams",
    });

    const worker = this.newWorkerTaskDefinition(this, "WorkerTaskDefinition", {
      family: `${props.resourcePrefix}-worker`,
      workloadProfile: props.workloadProfile,
      taskRole: this.taskRole,
      image: this.workerImage(props.workerImage, props.architecture),
      // The launcher passes every DAGY_* variable as container overrides per run.
      environment: {},
    });
    this.taskDefinition = worker.taskDefinition;
    this.container = worker.container;

    this.grantWorkerData(this.taskRole);
    this.grantSecretInjection(props);
  }

  /**
   * A worker task definition in `scope`: the worker container (`worker`) with the stack's image
   * unless another is given, sized by `workloadProfile`, with the shared execution role, the
   * worker log group and the stop timeout; `environment` is added to the two platform settings.
   * The stack's own worker and each warm pool (constructs/warm-pools.ts) are built by it, so a
   * warm worker runs exactly what a cold one does.
   */
  newWorkerTaskDefinition(
    scope: Construct,
    id: string,
    options: {
      readonly family: string;
      readonly workloadProfile: WorkloadProfile;
      readonly taskRole: iam.IRole;
      readonly environment: Readonly<Record<string, string>>;
      readonly image?: ecs.ContainerImage;
    },
  ): { taskDefinition: ecs.FargateTaskDefinition; container: ecs.ContainerDefinition } {
    const profile = WORKLOAD_PROFILES[options.workloadProfile];
    const taskDefinition = new ecs.FargateTaskDefinition(scope, id, {
      family: options.family,
      cpu: Number(profile.cpu),
      memoryLimitMiB: Number(profile.memory),
      // The guide's default: 21 GiB, the smallest explicit size; launches may ask for up to 200.
      ephemeralStorageGiB: 21,
      runtimePlatform: {
        cpuArchitecture:
          this.architecture === "X86_64" ? ecs.CpuArchitecture.X86_64 : ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      executionRole: this.executionRole,
      taskRole: options.taskRole,
    });
    const container = taskDefinition.addContainer("Worker", {
      containerName: WORKER_CONTAINER_NAME,
      // Another task definition runs the very image of the stack's worker (same pull rights).
      image: options.image ?? ecs.ContainerImage.fromRegistry(this.container.imageName),
      essential: true,
      // On SIGTERM the worker drains for up to this budget minus a margin, then records its
      // run; 120 s is Fargate's maximum. The worker reads the same number from its environment.
      stopTimeout: Duration.seconds(WORKER_STOP_TIMEOUT_SECONDS),
      environment: {
        [WORKER_EXTRA_ENV.stopTimeoutSeconds]: String(WORKER_STOP_TIMEOUT_SECONDS),
        // Terminal statuses are announced on the account's default event bus.
        [WORKER_EXTRA_ENV.runStatusEvents]: "eventbridge",
        ...options.environment,
      },
      logging: ecs.LogDrivers.awsLogs({
        logGroup: this.logGroup,
        streamPrefix: WORKER_CONTAINER_NAME,
        // A slow log pipe must not block the run; the buffer holds bursts.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
    });
    acknowledgeRule(
      taskDefinition,
      "AwsSolutions-ECS2",
      "Non-secret settings only (the stop-timeout budget, where run status events go, in IAM mode the API URL and how to sign for it, and a warm pool's queue, name and table); secrets reach the worker only through ECS secret injection.",
    );
    return { taskDefinition, container };
  }

  /** Everything the worker's own code does, and nothing else. */
  private grantWorkerData(role: iam.Role): void {
    const props = this.props;
    dynamodb.TableGrants.fromTable(props.runsTable, undefined, false).actions(
      role,
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
    );
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ["s3:GetObject"],
      resourceArns: WORKER_ARTIFACT_READ_PREFIXES.map((p) =>
        props.artifactsBucket.arnForObjects(p),
      ),
    });
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ["s3:PutObject"],
      resourceArns: [
        props.tracesBucket.arnForObjects(WORKER_TRACES_WRITE_PREFIX),
        // Task outputs too large for the run record, kept so a relaunch can resume.
        props.artifactsBucket.arnForObjects(WORKER_OUTPUTS_PREFIX),
      ],
    });
    // The worker ships run events to a log stream named by the run id.
    this.logGroup.grantWrite(role);
    // ... and announces its run's terminal status (`Dagy Run Status Change`) on the default bus.
    grantDefaultBusPutEvents(role);
    acknowledgeWildcards(role, [
      ...WORKER_ARTIFACT_READ_PREFIXES.map((prefix) => ({
        resource: props.artifactsBucket.arnForObjects(prefix),
        reason: `Objects under ${prefix} of the artifacts bucket; keys carry flow, version, slug or run id.`,
      })),
      {
        resource: props.tracesBucket.arnForObjects(WORKER_TRACES_WRITE_PREFIX),
        reason:
          "Tracebacks under exceptions/<org_id>/<run_id>/ of the traces bucket; run ids are unknown at deploy time.",
      },
    ]);
  }

  private grantSecretInjection(props: ComputeConstructProps): void {
    const patterns = (this.secretArnPatterns = props.secretArnPatterns ?? [
      Stack.of(this).formatArn({
        service: "secretsmanager",
        resource: "secret",
        resourceName: `${props.appName}/*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ]);
    this.secretNamePrefix = `${props.appName}/`;
    if (props.secretsKmsKeyArn !== undefined) {
      this.executionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ["kms:Decrypt"],
          resources: [props.secretsKmsKeyArn],
          // Only when Secrets Manager asks on the role's behalf, not for direct use of the key.
          conditions: {
            StringEquals: {
              "kms:ViaService": `secretsmanager.${Stack.of(this).region}.amazonaws.com`,
            },
          },
        }),
      );
    }
    this.executionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["secretsmanager:GetSecretValue"],
        resources: [...patterns],
      }),
    );
    acknowledgeWildcards(this.executionRole, [
      ...patterns.map((resource) => ({
        resource,
        reason:
          "ECS injects the secrets a run declares; secret ARNs end in a random suffix, so access is by name prefix (config secretArnPatterns).",
      })),
      {
        resource: "*",
        reason:
          "ecr:GetAuthorizationToken supports no resource-level permission; image pulls are scoped to the worker repository.",
      },
    ]);
  }

  private workerImage(
    config: WorkerImageConfig,
    architecture: ComputeConstructProps["architecture"],
  ): ecs.ContainerImage {
    if (config.kind === "asset") {
      return ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: WORKER_DOCKERFILE,
        platform: architecture === "X86_64" ? Platform.LINUX_AMD64 : Platform.LINUX_ARM64,
        exclude: WORKER_ASSET_EXCLUDES,
        // Docker ignore mode (the default) also applies the repository's .dockerignore.
      });
    }
    const ecrImage = parseEcrImageUri(config.uri);
    if (!ecrImage) return ecs.ContainerImage.fromRegistry(config.uri);
    // An ECR image: referencing the repository lets CDK grant the execution role exactly its pull.
    const repository = ecr.Repository.fromRepositoryAttributes(this, "WorkerRepository", {
      repositoryName: ecrImage.repositoryName,
      repositoryArn: Stack.of(this).formatArn({
        service: "ecr",
        account: ecrImage.account,
        region: ecrImage.region,
        resource: "repository",
        resourceName: ecrImage.repositoryName,
      }),
    });
    return ecs.ContainerImage.fromEcrRepository(repository, ecrImage.tagOrDigest);
  }

  /**
   * Lets a launcher start workers: RunTask on this family's revisions (and derived families
   * `<family>-*`, e.g. per-secret-set revisions) into this cluster only, and register those
   * revisions. RegisterTaskDefinition and DescribeTaskDefinition support no resource-level
   * permissions, so they take `*`; neither reads or writes data, and RunTask stays scoped.
   */
  grantLaunch(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    const family = this.taskDefinition.family;
    const familyArns = [`${family}:*`, `${family}-*:*`].map((resourceName) =>
      stack.formatArn({ service: "ecs", resource: "task-definition", resourceName }),
    );
    const inCluster = { ArnEquals: { "ecs:cluster": this.cluster.clusterArn } };
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["ecs:RunTask"],
      resourceArns: familyArns,
      conditions: inCluster,
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"],
      resourceArns: ["*"],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["ecs:TagResource"],
      resourceArns: [this.taskArns(), ...familyArns],
      conditions: { StringEquals: { "ecs:CreateAction": ["RunTask", "RegisterTaskDefinition"] } },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["iam:PassRole"],
      resourceArns: [this.taskRole.roleArn, this.executionRole.roleArn],
      conditions: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } },
    });
    this.grantTaskControl(grantee, "ecs:StopTask", "ecs:DescribeTasks");
    acknowledgeOnPrincipal(grantee, [
      ...familyArns.map((resource) => ({
        resource,
        reason:
          "Revisions of the worker task definition family (and <family>-* derived families); RunTask is further limited to this cluster.",
      })),
      {
        resource: "*",
        reason:
          "ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition support no resource-level permissions; they touch no data, and iam:PassRole limits the roles a registered revision can use to the two worker roles.",
      },
    ]);
  }

  /** ECS task actions (`ecs:StopTask`, `ecs:DescribeTasks`) on tasks of this cluster only. */
  grantTaskControl(grantee: iam.IGrantable, ...actions: string[]): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.taskArns()],
      conditions: { ArnEquals: { "ecs:cluster": this.cluster.clusterArn } },
    });
    acknowledgeOnPrincipal(grantee, [
      {
        resource: this.taskArns(),
        reason:
          "Tasks of the Dagy cluster only (task ids are per run); ecs:cluster condition applies too.",
      },
    ]);
  }

  private taskArns(): string {
    return Stack.of(this).formatArn({
      service: "ecs",
      resource: "task",
      resourceName: `${this.cluster.clusterName}/*`,
    });
  }
}

interface EcrImage {
  readonly account: string;
  readonly region: string;
  readonly repositoryName: string;
  readonly tagOrDigest: string;
}

/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:tag|@sha256:...]`, else undefined. */
export function parseEcrImageUri(uri: string): EcrImage | undefined {
  const match =
    /^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._/-]+?)(?::([\w.-]+)|@(sha256:[0-9a-f]{64}))?$/.exec(
      uri,
    );
  if (!match) return undefined;
  const [, account = "", region = "", repositoryName = "", tag, digest] = match;
  return { account, region, repositoryName, tagOrDigest: digest ?? tag ?? "latest" };
}

/** Acknowledges wildcard findings on the grantee's role, when it is one of ours. */
function acknowledgeOnPrincipal(
  grantee: iam.IGrantable,
  findings: Parameters<typeof acknowledgeWildcards>[1],
): void {
  const principal = grantee.grantPrincipal;
  if (Construct.isConstruct(principal)) acknowledgeWildcards(principal, findings);
}
