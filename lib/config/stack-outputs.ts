/**
 * Stack outputs and the `DAGY_*` variables they stand for. The stack emits one CloudFormation
 * output per entry of `STACK_OUTPUTS`; the `dagy` CLI reads the stack's outputs
 * (DescribeStacks) and turns them into launcher configuration with `envFromStackOutputs`.
 *
 * CDK-free on purpose: the CLI imports it without loading aws-cdk-lib.
 */
import { LAUNCHER_ENV, PLATFORM_ENV, WARM_ENV } from "./env";

/** Output key -> environment variable. */
export const STACK_OUTPUTS = {
  DagyEcsClusterArn: LAUNCHER_ENV.clusterArn,
  DagyEcsExecutionRoleArn: LAUNCHER_ENV.taskExecutionRoleArn,
  DagyEcsTaskRoleArn: LAUNCHER_ENV.taskRoleArn,
  DagyEcsWorkerImage: LAUNCHER_ENV.workerImage,
  DagyEcsSubnets: LAUNCHER_ENV.subnets,
  DagyEcsSecurityGroups: LAUNCHER_ENV.securityGroups,
  DagyEcsLogGroup: LAUNCHER_ENV.logGroup,
  DagyArtifactBucket: LAUNCHER_ENV.artifactBucket,
  DagyTracesBucket: LAUNCHER_ENV.tracesBucket,
  DagyEcsTaskDefinition: PLATFORM_ENV.taskDefinition,
  DagyEcsContainerName: PLATFORM_ENV.containerName,
  DagyFlowsTable: PLATFORM_ENV.flowsTable,
  DagyRunsTable: PLATFORM_ENV.runsTable,
  DagyDeploymentsTable: PLATFORM_ENV.deploymentsTable,
  DagyDepPackagesTable: PLATFORM_ENV.depPackagesTable,
  DagyRegion: PLATFORM_ENV.region,
} as const;
export type StackOutputKey = keyof typeof STACK_OUTPUTS;

/** Outputs only a stack with warm pools (`warmPool` config) has, and their variables. */
export const WARM_STACK_OUTPUTS = {
  DagyWarmPools: WARM_ENV.pools,
  DagyWarmPoolTable: WARM_ENV.poolTable,
  DagyWarmFallbackQueueUrl: WARM_ENV.fallbackQueueUrl,
} as const;
export type WarmStackOutputKey = keyof typeof WARM_STACK_OUTPUTS;

/** Outputs that are not launcher variables but that users and the CLI look for. */
export const EXTRA_STACK_OUTPUTS = {
  /** Base URL of the HTTP API (`https://<id>.execute-api.<region>.amazonaws.com/`). */
  apiUrl: "DagyApiUrl",
  /** `iam` (sign requests with SigV4 for `execute-api`) or `jwt` (send a bearer token). */
  apiAuthMode: "DagyApiAuthMode",
  /** Revision-pinned ARN of the worker task definition the stack registered. */
  taskDefinitionArn: "DagyEcsTaskDefinitionArn",
  /** The launch Lambda (targets of runtime schedules; direct `{"action":"launch",...}` invokes). */
  launchFunctionArn: "DagyLaunchFunctionArn",
  /** SNS topic every alarm notifies (ALARM and OK). */
  alarmTopicArn: "DagyAlarmTopicArn",
  /** SQS queue holding async invocations that failed after Lambda's retries. */
  failedInvocationsQueueUrl: "DagyFailedInvocationsQueueUrl",
} as const;

/** One entry of CloudFormation DescribeStacks' `Outputs`. */
export interface StackOutputEntry {
  readonly OutputKey?: string;
  readonly OutputValue?: string;
}

/** Translates stack outputs into `DAGY_*` variables; unknown outputs are ignored. */
export function envFromStackOutputs(outputs: readonly StackOutputEntry[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { OutputKey: key, OutputValue: value } of outputs) {
    if (key !== undefined && value !== undefined && key in STACK_OUTPUTS) {
      env[STACK_OUTPUTS[key as StackOutputKey]] = value;
    } else if (key !== undefined && value !== undefined && key in WARM_STACK_OUTPUTS) {
      env[WARM_STACK_OUTPUTS[key as WarmStackOutputKey]] = value;
    }
  }
  return env;
}
