/**
 * Per-environment defaults, in one place. `config.ts` applies them to whatever the user did not
 * set; nothing else in the stack branches on the environment name.
 */
import type { WorkloadProfile } from "../launcher/types";

export const ENVIRONMENTS = ["develop", "staging", "production"] as const;
export type DagyEnvironment = (typeof ENVIRONMENTS)[number];

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;
export type LogRetentionDays = (typeof LOG_RETENTION_DAYS)[number];

export interface EnvironmentDefaults {
  /** Sizes the worker task definition; launches override it per run (the guide's ENVIRONMENT_CONFIG). */
  readonly workloadProfile: WorkloadProfile;
  /** NAT gateways of a created VPC: one is enough to run, one per AZ survives an AZ outage. */
  readonly natGateways: number;
  readonly maxAzs: number;
  readonly logRetentionDays: LogRetentionDays;
  /** Days a traceback stays in the traces bucket. */
  readonly traceExpirationDays: number;
  /** Days a superseded artifact version and an uploaded large-parameters object are kept. */
  readonly artifactNoncurrentExpirationDays: number;
  /**
   * Tables and buckets survive stack deletion (CloudFormation's RetainExceptOnCreate, so a
   * failed first deploy leaves nothing behind) and tables get deletion protection. Otherwise
   * they are deleted with the stack, buckets emptied first.
   */
  readonly retainData: boolean;
  /** Warm pools when the config sets no `warmPool`: none anywhere (idle tasks cost money). */
  readonly warmPool: readonly { readonly profile: WorkloadProfile; readonly size: number }[];
  /** Suffix of the worker log group after `/ecs/<appName>-worker`; production keeps the guide's name. */
  readonly workerLogGroupSuffix: string;
}

export const ENVIRONMENT_DEFAULTS: Readonly<Record<DagyEnvironment, EnvironmentDefaults>> = {
  develop: {
    workloadProfile: "small",
    natGateways: 1,
    maxAzs: 2,
    logRetentionDays: 14,
    traceExpirationDays: 14,
    artifactNoncurrentExpirationDays: 7,
    retainData: false,
    warmPool: [],
    workerLogGroupSuffix: "-develop",
  },
  staging: {
    workloadProfile: "medium",
    natGateways: 1,
    maxAzs: 2,
    logRetentionDays: 30,
    traceExpirationDays: 30,
    artifactNoncurrentExpirationDays: 30,
    retainData: false,
    warmPool: [],
    workerLogGroupSuffix: "-staging",
  },
  production: {
    workloadProfile: "large",
    natGateways: 2,
    maxAzs: 2,
    logRetentionDays: 365,
    traceExpirationDays: 90,
    artifactNoncurrentExpirationDays: 90,
    retainData: true,
    warmPool: [],
    workerLogGroupSuffix: "",
  },
};
