import { CfnOutput, Stack, Tags, type StackProps } from "aws-cdk-lib";
import type * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { configScheduleResourceName, runtimeScheduleRulePrefix, type StackConfig } from "./config";
import { ApiConstruct } from "./constructs/api";
import { WORKER_CONTAINER_NAME } from "../config/worker-container";
import { ComputeConstruct } from "./constructs/compute";
import { LambdaFunctionsConstruct } from "./constructs/lambda-functions";
import { MonitoringConstruct } from "./constructs/monitoring";
import { NetworkConstruct } from "./constructs/network";
import { RunReconciliationConstruct } from "./constructs/run-reconciliation";
import { SchedulesConstruct } from "./constructs/schedules";
import { dataRemovalPolicy, StorageConstruct } from "./constructs/storage";
import { WarmPoolsConstruct } from "./constructs/warm-pools";
import {
  EXTRA_STACK_OUTPUTS,
  STACK_OUTPUTS,
  WARM_STACK_OUTPUTS,
  type StackOutputKey,
  type WarmStackOutputKey,
} from "../config/stack-outputs";
import { WorkerApiAccess } from "./constructs/worker-api-access";

export interface DagyStackProps extends StackProps {
  /** The validated configuration (lib/infra/config.ts); the stack reads nothing else. */
  readonly config: StackConfig;
}

/** One Dagy environment: composes the constructs and publishes the launcher configuration. */
export class DagyStack extends Stack {
  readonly network: NetworkConstruct;
  readonly storage: StorageConstruct;
  readonly compute: ComputeConstruct;
  /** Only when the config has `warmPool` entries. */
  readonly warmPools?: WarmPoolsConstruct;
  readonly functions: LambdaFunctionsConstruct;
  readonly api: ApiConstruct;
  readonly schedules: SchedulesConstruct;
  readonly reconciliation: RunReconciliationConstruct;
  readonly monitoring: MonitoringConstruct;
  private readonly apiAuthMode: string;

  constructor(scope: Construct, id: string, props: DagyStackProps) {
    super(scope, id, {
      description: `Dagy (${props.config.environment}): DAG flow runs on ECS Fargate`,
      ...props,
    });
    const { config } = props;
    this.apiAuthMode = config.apiAuth.mode;
    // RetentionDays members are the day counts themselves; config allows only valid ones.
    const logRetention = config.logRetentionDays as unknown as logs.RetentionDays;
    const removalPolicy = dataRemovalPolicy(config.retainData);

    Tags.of(this).add("dagy:app", config.appName);
    Tags.of(this).add("dagy:environment", config.environment);
    for (const [key, value] of Object.entries(config.tags)) Tags.of(this).add(key, value);

    this.network = new NetworkConstruct(this, "Network", {
      vpc: config.vpc,
      logRetention,
      removalPolicy,
    });
    this.storage = new StorageConstruct(this, "Storage", {
      resourcePrefix: config.resourcePrefix,
      retainData: config.retainData,
      traceExpirationDays: config.traceExpirationDays,
      artifactNoncurrentExpirationDays: config.artifactNoncurrentExpirationDays,
      accessLogExpirationDays: config.logRetentionDays,
    });
    this.compute = new ComputeConstruct(this, "Compute", {
      resourcePrefix: config.resourcePrefix,
      appName: config.appName,
      vpc: this.network.vpc,
      workerImage: config.workerImage,
      workloadProfile: config.defaultWorkloadProfile,
      architecture: config.architecture,
      logGroupName: config.workerLogGroupName,
      logRetention,
      removalPolicy,
      runsTable: this.storage.tables.runs,
      artifactsBucket: this.storage.artifactsBucket,
      tracesBucket: this.storage.tracesBucket,
      secretArnPatterns: config.secretArnPatterns,
      ...(config.secretsKmsKeyArn !== undefined
        ? { secretsKmsKeyArn: config.secretsKmsKeyArn }
        : {}),
    });
    if (config.warmPool.length > 0) {
      this.warmPools = new WarmPoolsConstruct(this, "WarmPools", {
        resourcePrefix: config.resourcePrefix,
        pools: config.warmPool,
        retainData: config.retainData,
        compute: this.compute,
        network: this.network,
      });
    }
    this.functions = new LambdaFunctionsConstruct(this, "Functions", {
      resourcePrefix: config.resourcePrefix,
      environment: config.environment,
      defaultWorkloadProfile: config.defaultWorkloadProfile,
      apiAuth: config.apiAuth,
      ...(config.maxRelaunches !== undefined ? { maxRelaunches: config.maxRelaunches } : {}),
      logRetention,
      removalPolicy,
      storage: this.storage,
      compute: this.compute,
      network: this.network,
      ...(this.warmPools !== undefined ? { warmPools: this.warmPools } : {}),
    });
    this.api = new ApiConstruct(this, "Api", {
      apiName: config.resourcePrefix,
      handlers: {
        api: this.functions.api.function,
        registration: this.functions.registration.function,
      },
      auth: config.apiAuth,
      logRetention,
      removalPolicy,
    });
    // Isolated maps: the worker asks the API for child runs, signed as its task role. In JWT
    // mode it has no token, so it gets no URL and runs isolated maps in-process (README).
    if (config.apiAuth.mode === "iam") {
      new WorkerApiAccess(this, "WorkerApiAccess", {
        compute: this.compute,
        api: this.api,
        runsTable: this.storage.tables.runs,
        ...(this.warmPools !== undefined
          ? { warmContainers: this.warmPools.pools.map((pool) => pool.container) }
          : {}),
      });
    }
    this.schedules = new SchedulesConstruct(this, "Schedules", {
      schedules: config.schedules,
      resourceNameFor: (name) => configScheduleResourceName(config, name),
      launchFunction: this.functions.launch.function,
      environment: config.environment,
      runtimePrefix: runtimeScheduleRulePrefix(config),
      runtimeScheduleGroupName: config.resourcePrefix,
    });
    this.schedules.bindTo(this.functions.api);
    this.reconciliation = new RunReconciliationConstruct(this, "RunReconciliation", {
      cluster: this.compute.cluster,
      taskEventsFunction: this.functions.taskEvents.function,
      reconcileFunction: this.functions.reconcile.function,
    });
    const warmFallback = this.functions.warmFallback;
    this.monitoring = new MonitoringConstruct(this, "Monitoring", {
      resourcePrefix: config.resourcePrefix,
      functions: [
        { name: "api", function: this.functions.api.function },
        { name: "registration", function: this.functions.registration.function },
        { name: "launch", function: this.functions.launch.function },
        { name: "task-events", function: this.functions.taskEvents.function },
        { name: "reconcile", function: this.functions.reconcile.function },
        ...(warmFallback ? [{ name: "warm-fallback", function: warmFallback.function }] : []),
      ],
      apiStage: this.api.stage,
      asyncFunctions: [
        { name: "launch", function: this.functions.launch.function },
        { name: "task-events", function: this.functions.taskEvents.function },
        { name: "reconcile", function: this.functions.reconcile.function },
      ],
      environment: config.environment,
      workerLogGroup: this.compute.logGroup,
      deadLetterQueues: this.warmPools?.deadLetterQueues() ?? [],
      ...(config.alarmEmail !== undefined ? { alarmEmail: config.alarmEmail } : {}),
    });

    this.addOutputs();
  }

  private addOutputs(): void {
    const { storage, compute, network } = this;
    const values: Record<StackOutputKey, string> = {
      DagyEcsClusterArn: compute.cluster.clusterArn,
      DagyEcsExecutionRoleArn: compute.executionRole.roleArn,
      DagyEcsTaskRoleArn: compute.taskRole.roleArn,
      DagyEcsWorkerImage: compute.container.imageName,
      DagyEcsSubnets: network.workerSubnets.map((subnet) => subnet.subnetId).join(","),
      DagyEcsSecurityGroups: network.workerSecurityGroup.securityGroupId,
      DagyEcsLogGroup: compute.logGroup.logGroupName,
      DagyArtifactBucket: storage.artifactsBucket.bucketName,
      DagyTracesBucket: storage.tracesBucket.bucketName,
      DagyEcsTaskDefinition: compute.taskDefinition.family,
      DagyEcsContainerName: WORKER_CONTAINER_NAME,
      DagyFlowsTable: storage.tables.flows.tableName,
      DagyRunsTable: storage.tables.runs.tableName,
      DagyDeploymentsTable: storage.tables.deployments.tableName,
      DagyDepPackagesTable: storage.tables.depPackages.tableName,
      DagyRegion: this.region,
    };
    for (const [key, value] of Object.entries(values)) {
      new CfnOutput(this, key, {
        value,
        description: STACK_OUTPUTS[key as StackOutputKey],
      });
    }
    if (this.warmPools !== undefined) {
      const warm: Record<WarmStackOutputKey, string> = {
        DagyWarmPools: this.warmPools.poolsJson(),
        DagyWarmPoolTable: this.warmPools.table.tableName,
        DagyWarmFallbackQueueUrl: this.warmPools.fallbackQueue.queueUrl,
      };
      for (const [key, value] of Object.entries(warm)) {
        new CfnOutput(this, key, {
          value,
          description: WARM_STACK_OUTPUTS[key as WarmStackOutputKey],
        });
      }
    }
    new CfnOutput(this, EXTRA_STACK_OUTPUTS.apiUrl, {
      value: this.api.url,
      description: "Base URL of the Dagy HTTP API",
    });
    new CfnOutput(this, EXTRA_STACK_OUTPUTS.apiAuthMode, {
      value: this.apiAuthMode,
      description: "How the API authenticates callers: iam (SigV4) or jwt (bearer token)",
    });
    new CfnOutput(this, EXTRA_STACK_OUTPUTS.taskDefinitionArn, {
      value: compute.taskDefinition.taskDefinitionArn,
      description: "Worker task definition revision registered by this deployment",
    });
    new CfnOutput(this, EXTRA_STACK_OUTPUTS.alarmTopicArn, {
      value: this.monitoring.alarmTopic.topicArn,
      description: "SNS topic every Dagy alarm notifies: subscribe your on-call to it",
    });
    new CfnOutput(this, EXTRA_STACK_OUTPUTS.failedInvocationsQueueUrl, {
      value: this.monitoring.failedInvocations.queueUrl,
      description: "Async invocations (launch events, task events, sweeps) that failed for good",
    });
    new CfnOutput(this, EXTRA_STACK_OUTPUTS.launchFunctionArn, {
      value: this.functions.launch.function.functionArn,
      description: 'Launch function: invoke with {"action":"launch","flow_name":...,"org_id":...}',
    });
  }
}
