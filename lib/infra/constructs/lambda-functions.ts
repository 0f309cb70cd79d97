import { Duration, type RemovalPolicy } from "aws-cdk-lib";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { HANDLER_ENV, LAUNCHER_ENV, PLATFORM_ENV } from "../../config/env";
import type { ApiAuthConfig } from "../config";
import type { DagyEnvironment } from "../environments";
import { FUNCTION_ENV } from "../../config/env";
import type { WorkloadProfile } from "../../launcher/types";
import { LAMBDA_ENTRIES } from "../paths";
import { WORKER_CONTAINER_NAME } from "../../config/worker-container";
import type { ComputeConstruct } from "./compute";
import { DagyFunction } from "./dagy-function";
import { grantDefaultBusPutEvents } from "./events-grants";
import type { NetworkConstruct } from "./network";
import type { StorageConstruct } from "./storage";
import { WARM_FALLBACK_TIMEOUT, type WarmPoolsConstruct } from "./warm-pools";

/** Key patterns of the artifacts bucket a launcher writes: parameters too large for overrides. */
export const LAUNCHER_ARTIFACT_WRITE_PREFIXES = ["run-inputs/*"] as const;
/** Key patterns the registration function reads and writes to register flows and packages. */
export const ARTIFACT_REGISTRY_PREFIXES = ["uploads/*", "flows/*", "dep-packages/*"] as const;

export interface LambdaFunctionsConstructProps {
  /** `<appName>-<env>`: functions are named `<prefix>-api`, `<prefix>-launch`, ... */
  readonly resourcePrefix: string;
  readonly environment: DagyEnvironment;
  /** The profile that sizes the worker task definition: what a launch naming no size gets. */
  readonly defaultWorkloadProfile: WorkloadProfile;
  readonly apiAuth: ApiAuthConfig;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly storage: StorageConstruct;
  readonly compute: ComputeConstruct;
  readonly network: NetworkConstruct;
  /** Relaunches after infrastructure failures when a launch does not say. Default: the runtime's (2). */
  readonly maxRelaunches?: number;
  /** The warm pools, when the config has any: every launcher may dispatch to them. */
  readonly warmPools?: WarmPoolsConstruct;
}

/**
 * The five handlers. `api` and `launch` are launchers: they get the guide's full launcher
 * configuration and may start, stop and describe worker tasks. `registration` serves the HTTP
 * routes that register flows and packages (lib/api/routes.ts `fn`): their tables and the
 * artifacts bucket's registry keys, no task control. `taskEvents` and `reconcile` settle runs
 * and relaunch those the infrastructure stopped: run records and task control. With warm
 * pools, a sixth: `warmFallback` launches cold what no warm worker claimed; `api` and `launch`
 * may dispatch to the pools.
 */
export class LambdaFunctionsConstruct extends Construct {
  /** HTTP API: runs, reading flows, schedules, deployments, logs. */
  readonly api: DagyFunction;
  /** HTTP API: uploading and committing flow versions and dependency packages. */
  readonly registration: DagyFunction;
  /** `{"action":"launch",...}` events: schedules and direct invokes. */
  readonly launch: DagyFunction;
  /** ECS Task State Change (STOPPED): settles runs whose task died. */
  readonly taskEvents: DagyFunction;
  /** Periodic sweep of runs QUEUED or RUNNING for too long. */
  readonly reconcile: DagyFunction;
  /** Warm pools only: launches cold the warm dispatches no worker claimed in time. */
  readonly warmFallback?: DagyFunction;

  constructor(scope: Construct, id: string, props: LambdaFunctionsConstructProps) {
    super(scope, id);
    // Each function gets the variables its entry point reads (ENTRY_POINT_VARIABLES in
    // lib/config/runtime.ts; the stack test holds the two together) and no others.
    const fn = (
      name: string,
      entry: string,
      description: string,
      timeout: Duration,
      environment: Readonly<Record<string, string>> = { [FUNCTION_ENV.computeBackend]: "ecs" },
    ): DagyFunction =>
      new DagyFunction(this, name, {
        logRetention: props.logRetention,
        removalPolicy: props.removalPolicy,
        environment,
        entry,
        description,
        timeout,
        functionName: `${props.resourcePrefix}-${kebab(name)}`,
      });

    // 29 s: API Gateway answers 503 after 30 s whatever the function does.
    this.api = fn("Api", LAMBDA_ENTRIES.api, "Dagy HTTP API", Duration.seconds(29));
    // Launches nothing: no compute backend to name.
    this.registration = fn(
      "Registration",
      LAMBDA_ENTRIES.registration,
      "Dagy HTTP API: flow and package registration",
      Duration.seconds(29),
      {},
    );
    this.launch = fn("Launch", LAMBDA_ENTRIES.launch, "Dagy launch events", Duration.seconds(60));
    this.taskEvents = fn(
      "TaskEvents",
      LAMBDA_ENTRIES.taskEvents,
      "Dagy ECS task state changes",
      Duration.seconds(30),
    );
    this.reconcile = fn(
      "Reconcile",
      LAMBDA_ENTRIES.reconcile,
      "Dagy sweep of stale runs",
      Duration.minutes(5),
    );

    this.configureLauncher(this.launch, props, false);
    this.configureLauncher(this.api, props, true);
    this.configureRegistration(this.registration, props);
    for (const http of [this.api, this.registration]) {
      http.setEnvironment(FUNCTION_ENV.apiAuthMode, props.apiAuth.mode);
      if (props.apiAuth.mode === "jwt") {
        http.setEnvironment(FUNCTION_ENV.apiOrgClaim, props.apiAuth.orgClaim);
      }
    }
    // The api refuses secrets outside what the execution role may read, and in JWT mode
    // another org's (lib/services/secrets.ts).
    this.api
      .setEnvironment(FUNCTION_ENV.secretArnPatterns, props.compute.secretArnPatterns.join(","))
      .setEnvironment(FUNCTION_ENV.secretNamePrefix, props.compute.secretNamePrefix);

    // Both settle run records and, when the infrastructure stopped a run's task, relaunch it.
    this.configureRelauncher(this.taskEvents, props);
    this.configureRelauncher(this.reconcile, props);
    for (const settler of [this.taskEvents, this.reconcile]) {
      // A run they close is announced (`Dagy Run Status Change`) on the default bus.
      grantDefaultBusPutEvents(settler.function);
    }
    if (props.warmPools !== undefined) {
      this.warmFallback = this.configureWarmPools(props.warmPools, props, fn);
    }
    if (props.maxRelaunches !== undefined) {
      for (const fn of [
        this.api,
        this.launch,
        this.taskEvents,
        this.reconcile,
        ...(this.warmFallback ? [this.warmFallback] : []),
      ]) {
        fn.setEnvironment(HANDLER_ENV.maxRelaunches, String(props.maxRelaunches));
      }
    }
  }

  get all(): readonly DagyFunction[] {
    return [
      this.api,
      this.registration,
      this.launch,
      this.taskEvents,
      this.reconcile,
      ...(this.warmFallback ? [this.warmFallback] : []),
    ];
  }

  /**
   * Registration stages uploads under `uploads/` (presigned PUTs), reads them back, copies them
   * to their keys (`flows/`, `dep-packages/`; GetObject also answers the HeadObject that checks
   * an existing key's owner), deletes the staged object, and records flows and packages.
   */
  private configureRegistration(fn: DagyFunction, props: LambdaFunctionsConstructProps): void {
    const { storage } = props;
    fn.bindBucket(LAUNCHER_ENV.artifactBucket, storage.artifactsBucket, {
      read: ARTIFACT_REGISTRY_PREFIXES,
      write: ARTIFACT_REGISTRY_PREFIXES,
      delete: ["uploads/*"],
    })
      .bindTable(PLATFORM_ENV.flowsTable, storage.tables.flows, "readWrite")
      .bindTable(PLATFORM_ENV.depPackagesTable, storage.tables.depPackages, "readWrite");
  }

  /**
   * Every function that launches may dispatch a run to a warm pool; the warm-fallback function,
   * fed by the fallback queue, relaunches cold what no warm worker claimed: a relauncher's
   * rights (RunTask, PassRole of the two worker roles, the runs table) plus the queue's.
   */
  private configureWarmPools(
    warm: WarmPoolsConstruct,
    props: LambdaFunctionsConstructProps,
    fn: (name: string, entry: string, description: string, timeout: Duration) => DagyFunction,
  ): DagyFunction {
    const fallback = fn(
      "WarmFallback",
      LAMBDA_ENTRIES.warmFallback,
      "Dagy warm dispatches no warm worker claimed: launch cold",
      WARM_FALLBACK_TIMEOUT,
    );
    this.configureRelauncher(fallback, props);
    grantDefaultBusPutEvents(fallback.function);
    // Only first attempts go warm (api, launch); relaunches, including the fallback's, are cold.
    for (const launcher of [this.api, this.launch]) warm.bindDispatcher(launcher);
    // Failed records return to the queue alone (reportBatchItemFailures), not the whole batch.
    fallback.function.addEventSource(
      new SqsEventSource(warm.fallbackQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );
    return fallback;
  }

  /**
   * Reconcilers relaunch a run the infrastructure stopped: the launcher's configuration and
   * task control (RunTask, PassRole of the two worker roles, StopTask for a task stuck
   * PENDING, DescribeTasks), but data access to the runs table only — a relaunch starts the
   * next attempt from the run record, and finds a run by its task ARN (by_task_arn index) or
   * lists stale ones (by_active_status). Other tables and buckets: their names, no access.
   */
  private configureRelauncher(fn: DagyFunction, props: LambdaFunctionsConstructProps): void {
    const { storage, compute, network } = props;
    fn.setEnvironment(FUNCTION_ENV.environment, props.environment)
      .setEnvironment(LAUNCHER_ENV.clusterArn, compute.cluster.clusterArn)
      .setEnvironment(LAUNCHER_ENV.taskExecutionRoleArn, compute.executionRole.roleArn)
      .setEnvironment(LAUNCHER_ENV.taskRoleArn, compute.taskRole.roleArn)
      .setEnvironment(LAUNCHER_ENV.workerImage, compute.container.imageName)
      .setEnvironment(
        LAUNCHER_ENV.subnets,
        network.workerSubnets.map((subnet) => subnet.subnetId).join(","),
      )
      .setEnvironment(LAUNCHER_ENV.securityGroups, network.workerSecurityGroup.securityGroupId)
      .setEnvironment(LAUNCHER_ENV.logGroup, compute.logGroup.logGroupName)
      .setEnvironment(LAUNCHER_ENV.tracesBucket, storage.tracesBucket.bucketName)
      .setEnvironment(LAUNCHER_ENV.artifactBucket, storage.artifactsBucket.bucketName)
      .setEnvironment(PLATFORM_ENV.taskDefinition, compute.taskDefinition.family)
      .setEnvironment(PLATFORM_ENV.containerName, WORKER_CONTAINER_NAME)
      .bindTable(PLATFORM_ENV.runsTable, storage.tables.runs, {
        actions: ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        includeIndexes: true,
      })
      .setEnvironment(PLATFORM_ENV.flowsTable, storage.tables.flows.tableName)
      .setEnvironment(PLATFORM_ENV.deploymentsTable, storage.tables.deployments.tableName)
      .setEnvironment(PLATFORM_ENV.depPackagesTable, storage.tables.depPackages.tableName)
      // A relaunch of a run that named no size gets the environment's size, as its launch did.
      .setEnvironment(FUNCTION_ENV.defaultWorkloadProfile, props.defaultWorkloadProfile);
    compute.grantLaunch(fn.function);
  }

  /**
   * Launchers start, stop and describe worker tasks. The api also sets deployments and reads
   * run logs and tracebacks for its callers, who need `execute-api:Invoke` and nothing else;
   * registering flows and packages is the registration function's.
   */
  private configureLauncher(
    launcher: DagyFunction,
    props: LambdaFunctionsConstructProps,
    api: boolean,
  ): void {
    const { storage, compute, network } = props;
    launcher
      .setEnvironment(FUNCTION_ENV.environment, props.environment)
      .setEnvironment(FUNCTION_ENV.defaultWorkloadProfile, props.defaultWorkloadProfile)
      .setEnvironment(LAUNCHER_ENV.clusterArn, compute.cluster.clusterArn)
      .setEnvironment(LAUNCHER_ENV.taskExecutionRoleArn, compute.executionRole.roleArn)
      .setEnvironment(LAUNCHER_ENV.taskRoleArn, compute.taskRole.roleArn)
      .setEnvironment(LAUNCHER_ENV.workerImage, compute.container.imageName)
      .setEnvironment(
        LAUNCHER_ENV.subnets,
        network.workerSubnets.map((subnet) => subnet.subnetId).join(","),
      )
      .setEnvironment(LAUNCHER_ENV.securityGroups, network.workerSecurityGroup.securityGroupId)
      .setEnvironment(LAUNCHER_ENV.logGroup, compute.logGroup.logGroupName)
      // The launcher only hands the traces bucket to the worker; the api reads tracebacks.
      .bindBucket(LAUNCHER_ENV.tracesBucket, storage.tracesBucket, {
        ...(api ? { read: ["exceptions/*"] } : {}),
      })
      .setEnvironment(PLATFORM_ENV.taskDefinition, compute.taskDefinition.family)
      .setEnvironment(PLATFORM_ENV.containerName, WORKER_CONTAINER_NAME)
      .bindBucket(LAUNCHER_ENV.artifactBucket, storage.artifactsBucket, {
        write: LAUNCHER_ARTIFACT_WRITE_PREFIXES,
      })
      .bindTable(PLATFORM_ENV.flowsTable, storage.tables.flows, "read")
      .bindTable(PLATFORM_ENV.runsTable, storage.tables.runs, "readWrite")
      .bindTable(
        PLATFORM_ENV.deploymentsTable,
        storage.tables.deployments,
        api ? "readWrite" : "read",
      )
      .bindTable(PLATFORM_ENV.depPackagesTable, storage.tables.depPackages, "read");
    compute.grantLaunch(launcher.function);
    if (api) compute.logGroup.grant(launcher.function, "logs:GetLogEvents");
  }
}

function kebab(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
}
