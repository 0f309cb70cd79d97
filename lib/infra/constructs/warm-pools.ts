import { Aspects, Duration, Stack, type IAspect } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct, type IConstruct } from "constructs";
import { WARM_ENV } from "../../config/env";
import { WORKLOAD_PROFILES, type WorkloadProfile } from "../../launcher/types";
import type { WarmPoolConfig } from "../config";
import { acknowledgeRule } from "../nag";
import type { ComputeConstruct } from "./compute";
import type { DagyFunction } from "./dagy-function";
import type { NetworkConstruct } from "./network";
import { dataRemovalPolicy } from "./storage";

/**
 * How long a received assignment stays invisible to the pool's other workers: a worker
 * receives, claims the run (QUEUED -> RUNNING, one conditional write) and deletes the message
 * well within it. If it dies first, the message comes back and another worker takes it.
 */
export const WARM_QUEUE_VISIBILITY_TIMEOUT = Duration.seconds(60);
/** Deliveries of one message before it moves to the dead-letter queue. */
export const WARM_MAX_RECEIVE_COUNT = 5;
/** Timeout of the warm-fallback function (it launches cold what no warm worker claimed). */
export const WARM_FALLBACK_TIMEOUT = Duration.seconds(60);

export interface WarmPoolsConstructProps {
  /** `<appName>-<env>`: the pool table, queues, services and families start with it. */
  readonly resourcePrefix: string;
  /** At least one pool (the stack creates this construct only when `warmPool` is not empty). */
  readonly pools: readonly WarmPoolConfig[];
  /** As the other tables: retained (and deletion-protected) or destroyed with the stack. */
  readonly retainData: boolean;
  readonly compute: ComputeConstruct;
  readonly network: NetworkConstruct;
}

/** One pool: its queue, its ECS service of idle workers and what they run as. */
export interface WarmPool {
  readonly profile: WorkloadProfile;
  readonly size: number;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly taskRole: iam.Role;
  readonly service: ecs.FargateService;
}

/**
 * Warm pools on Fargate (issue #14). Per configured workload profile, an ECS service keeps
 * `size` worker tasks started, loaded and long-polling the pool's SQS queue; a launcher that
 * finds an idle worker (the pool table's count) sends the run's assignment to the queue instead
 * of calling RunTask. One fallback queue per stack: each warm dispatch also sends the run id
 * there with a delay, and the warm-fallback function launches the run cold if no warm worker
 * claimed it by then. The run's conditional QUEUED -> RUNNING claim keeps duplicate deliveries
 * (SQS is at-least-once, plus the fallback) from running it twice.
 */
export class WarmPoolsConstruct extends Construct {
  /** Per pool, the count of idle workers (partition key `pool`, the profile name). */
  readonly table: dynamodb.Table;
  readonly pools: readonly WarmPool[];
  /** Run ids a warm dispatch sent, delayed; consumed by the warm-fallback function. */
  readonly fallbackQueue: sqs.Queue;
  readonly fallbackDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: WarmPoolsConstructProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, "PoolTable", {
      tableName: `${props.resourcePrefix}-warm-pools`,
      partitionKey: { name: "pool", type: dynamodb.AttributeType.STRING },
      // As the four tables of constructs/storage.ts.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.retainData,
      removalPolicy: dataRemovalPolicy(props.retainData),
    });

    const fallback = this.queueWithDeadLetters(
      "Fallback",
      `${props.resourcePrefix}-warm-fallback`,
      {
        // Lambda requires the visibility timeout to be at least the function's timeout; AWS
        // recommends six times it, so a throttled batch is not redelivered while it waits.
        visibilityTimeout: Duration.seconds(WARM_FALLBACK_TIMEOUT.toSeconds() * 6),
        retentionPeriod: Duration.days(4),
      },
    );
    this.fallbackQueue = fallback.queue;
    this.fallbackDeadLetterQueue = fallback.deadLetterQueue;

    this.pools = props.pools.map((pool) => this.createPool(pool, props));
  }

  /**
   * DAGY_WARM_POOLS: `[{"pool":"small","queue_url":"…","cpu":"256","memory":"512"}]`, the
   * pools a launcher may dispatch to, with the size each pool's workers have.
   */
  poolsJson(): string {
    return Stack.of(this).toJsonString(
      this.pools.map((pool) => ({
        pool: pool.profile,
        queue_url: pool.queue.queueUrl,
        cpu: WORKLOAD_PROFILES[pool.profile].cpu,
        memory: WORKLOAD_PROFILES[pool.profile].memory,
      })),
    );
  }

  /**
   * A function that launches (api, launch, task-events, reconcile, warm-fallback): the warm
   * variables, SendMessage to every pool queue and the fallback queue (per-message
   * DelaySeconds needs no other action), and UpdateItem on the pool table (reserve a worker).
   */
  bindDispatcher(fn: DagyFunction): void {
    fn.setEnvironment(WARM_ENV.pools, this.poolsJson())
      .setEnvironment(WARM_ENV.poolTable, this.table.tableName)
      .setEnvironment(WARM_ENV.fallbackQueueUrl, this.fallbackQueue.queueUrl);
    iam.Grant.addToPrincipal({
      grantee: fn.function,
      actions: ["sqs:SendMessage"],
      resourceArns: [...this.pools.map((pool) => pool.queue.queueArn), this.fallbackQueue.queueArn],
    });
    dynamodb.TableGrants.fromTable(this.table, undefined, false).actions(
      fn.function,
      "dynamodb:UpdateItem",
    );
  }

  /** The dead-letter queues to alarm on, named as their alarms: `warm-<profile>-dlq`, ... */
  deadLetterQueues(): { name: string; queue: sqs.IQueue }[] {
    return [
      ...this.pools.map((pool) => ({
        name: `warm-${pool.profile}-dlq`,
        queue: pool.deadLetterQueue,
      })),
      { name: "warm-fallback-dlq", queue: this.fallbackDeadLetterQueue },
    ];
  }

  private createPool(config: WarmPoolConfig, props: WarmPoolsConstructProps): WarmPool {
    const { compute, network, resourcePrefix } = props;
    const name = `${resourcePrefix}-warm-${config.profile}`;
    const id = `${config.profile.charAt(0).toUpperCase()}${config.profile.slice(1)}`;
    const scope = new Construct(this, id);
    const { queue, deadLetterQueue } = this.queueWithDeadLetters(scope, name, {
      visibilityTimeout: WARM_QUEUE_VISIBILITY_TIMEOUT,
      // Workers long-poll (at most 20 s per ReceiveMessage, SQS's maximum).
      receiveMessageWaitTime: Duration.seconds(20),
      // An assignment nobody took is launched cold by the fallback within minutes (SQS
      // DelaySeconds is at most 15 min); an hour-old one is only ever a no-op claim.
      retentionPeriod: Duration.hours(1),
    });

    // Warm workers run as the worker task role itself, plus their pool's queue: the API knows
    // that role's sessions as workers (isolated maps sign their child launches with it, see
    // worker-api-access.ts), and a warm worker runs exactly what a cold one does. The cold
    // worker's role could already update any run record, so sharing it widens nothing that
    // matters; README "Warm pools on Fargate" says so.
    const taskRole = compute.taskRole;
    iam.Grant.addToPrincipal({
      grantee: taskRole,
      actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
      resourceArns: [queue.queueArn],
    });
    // The worker counts itself idle when ready and out when it takes a run or leaves.
    dynamodb.TableGrants.fromTable(this.table, undefined, false).actions(
      taskRole,
      "dynamodb:UpdateItem",
    );

    const { taskDefinition, container } = compute.newWorkerTaskDefinition(scope, "TaskDefinition", {
      family: name,
      workloadProfile: config.profile,
      taskRole,
      // The run's own variables arrive with its assignment (lib/worker/sqs-assignments.ts).
      // The region needs no variable: ECS sets AWS_REGION in every task
      // (docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-environment-variables.html).
      environment: {
        [WARM_ENV.source]: "sqs",
        [WARM_ENV.queueUrl]: queue.queueUrl,
        [WARM_ENV.pool]: config.profile,
        [WARM_ENV.poolTable]: this.table.tableName,
      },
    });

    // Each worker takes exactly one run and exits; ECS then starts a replacement to keep
    // `desiredCount` — that is the pool's refill, off the run's critical path. The task's
    // STOPPED event reaches task-events like a cold worker's (same cluster), so a warm worker
    // dying mid-run is reconciled too.
    const service = new ecs.FargateService(scope, "Service", {
      serviceName: name,
      cluster: compute.cluster,
      taskDefinition,
      desiredCount: config.size,
      capacityProviderStrategies: [{ capacityProvider: "FARGATE", weight: 1 }],
      vpcSubnets: { subnets: network.workerSubnets },
      securityGroups: [network.workerSecurityGroup],
      assignPublicIp: false,
      // A deploy starts the new workers before it stops the old (idle ones leave the pool on
      // SIGTERM), so the pool never runs below its size.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      // A revision whose workers cannot start rolls back instead of holding the deploy.
      circuitBreaker: { enable: true, rollback: true },
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableECSManagedTags: true,
    });
    Aspects.of(service).add(new AfterCapacityProviderAssociations(compute.cluster));
    return {
      profile: config.profile,
      size: config.size,
      queue,
      deadLetterQueue,
      taskDefinition,
      container,
      taskRole,
      service,
    };
  }

  /** An SSE, TLS-only queue whose messages move to a dead-letter queue after 5 receives. */
  private queueWithDeadLetters(
    scopeOrId: Construct | string,
    queueName: string,
    options: Pick<
      sqs.QueueProps,
      "visibilityTimeout" | "receiveMessageWaitTime" | "retentionPeriod"
    >,
  ): { queue: sqs.Queue; deadLetterQueue: sqs.Queue } {
    const scope = typeof scopeOrId === "string" ? new Construct(this, scopeOrId) : scopeOrId;
    const deadLetterQueue = new sqs.Queue(scope, "DeadLetterQueue", {
      queueName: `${queueName}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeRule(
      deadLetterQueue,
      "AwsSolutions-SQS3",
      "This is the dead-letter queue of the queue beside it.",
    );
    const queue = new sqs.Queue(scope, "Queue", {
      queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: WARM_MAX_RECEIVE_COUNT },
      ...options,
    });
    return { queue, deadLetterQueue };
  }
}

/**
 * Makes a service wait for its cluster's capacity provider associations: CreateService with a
 * capacity provider strategy fails while FARGATE is not yet associated with the cluster, and
 * CloudFormation would otherwise create both at once (a first deploy with `warmPool`). The
 * cluster adds the associations resource (`<cluster>/<cluster id>`) in an aspect of its own,
 * so this one, of the default priority, runs after it.
 */
class AfterCapacityProviderAssociations implements IAspect {
  constructor(private readonly cluster: ecs.Cluster) {}

  visit(node: IConstruct): void {
    if (!(node instanceof ecs.FargateService)) return;
    const associations = this.cluster.node.tryFindChild(this.cluster.node.id);
    if (associations instanceof ecs.CfnClusterCapacityProviderAssociations) {
      node.node.addDependency(associations);
    }
  }
}
