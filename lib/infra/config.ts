/**
 * The stack configuration: one zod schema validates what the user wrote (CDK context and an
 * optional JSON file) and, through its transform, yields the resolved `StackConfig` with the
 * per-environment defaults from `environments.ts` applied. bin/app.ts parses it once; stacks and
 * constructs receive it through props.
 */
import { z } from "zod";
import { ConfigurationError } from "../errors";
import { WORKLOAD_PROFILES, type WorkloadProfile } from "../launcher/types";
import {
  ENVIRONMENT_DEFAULTS,
  ENVIRONMENTS,
  LOG_RETENTION_DAYS,
  type DagyEnvironment,
} from "./environments";
import { isValidTimeZone, parseScheduleExpression } from "../schedules/expression";

const PROFILE_NAMES = Object.keys(WORKLOAD_PROFILES) as [WorkloadProfile, ...WorkloadProfile[]];
const oneOf = (values: readonly (string | number)[]): string => values.join(", ");

const logRetentionSchema = z.literal(LOG_RETENTION_DAYS, {
  error: `must be a CloudWatch Logs retention period; allowed: ${oneOf(LOG_RETENTION_DAYS)}`,
});

const workloadProfileSchema = z.enum(PROFILE_NAMES, {
  error: `must be a workload profile; allowed: ${oneOf(PROFILE_NAMES)}`,
});

/** Schedule names end up in rule and schedule names (64 characters at most, see `scheduleResourceName`). */
const SCHEDULE_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const scheduleSchema = z
  .strictObject({
    name: z.string().regex(SCHEDULE_NAME, {
      error: "must be 1-32 characters of letters, digits, '-' and '_'",
    }),
    flowName: z.string().min(1, { error: "must not be empty" }),
    orgId: z.string().min(1, { error: "must not be empty" }),
    /** Default: the launcher's `latest`. */
    flowVersion: z.string().min(1).optional(),
    /** `cron(<6 fields>)` or `rate(<n> <unit>)`, as EventBridge accepts it. */
    expression: z.string(),
    /** IANA zone; when set the schedule is an EventBridge Scheduler schedule in that zone. */
    timeZone: z.string().optional(),
    parameters: z.record(z.string(), z.json()).optional(),
    workloadProfile: workloadProfileSchema.optional(),
    deploymentName: z.string().min(1).optional(),
    enabled: z.boolean().default(true),
  })
  .superRefine((schedule, ctx) => {
    try {
      parseScheduleExpression(schedule.expression);
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        path: ["expression"],
        message: `schedule "${schedule.name}": ${(error as Error).message}`,
      });
    }
    if (schedule.timeZone !== undefined && !isValidTimeZone(schedule.timeZone)) {
      ctx.addIssue({
        code: "custom",
        path: ["timeZone"],
        message: `schedule "${schedule.name}": "${schedule.timeZone}" is not an IANA time zone name (e.g. "Europe/Berlin", "America/New_York", "UTC")`,
      });
    }
  });

const vpcSchema = z.union(
  [
    z.strictObject({
      create: z.literal(true),
      /** Default 2 (the launcher spreads tasks over the private subnets of these AZs). */
      maxAzs: z.int().min(2).max(3).optional(),
      /**
       * At least one: workers run in private subnets without public IPs and reach ECR, S3,
       * DynamoDB, Logs and Secrets Manager through NAT (S3 and DynamoDB through free gateway
       * endpoints). Default per environment.
       */
      natGateways: z.int().min(1).max(3).optional(),
    }),
    /** An existing VPC, found with a context lookup: needs AWS credentials (or cdk.context.json). */
    z.strictObject({
      vpcId: z
        .string()
        .regex(/^vpc-[0-9a-f]{8,17}$/, { error: "must look like vpc-0123456789abcdef0" }),
    }),
  ],
  { error: 'must be { "create": true, "maxAzs"?, "natGateways"? } or { "vpcId": "vpc-..." }' },
);

const apiAuthSchema = z.discriminatedUnion(
  "mode",
  [
    z.strictObject({ mode: z.literal("iam") }),
    z.strictObject({
      mode: z.literal("jwt"),
      issuer: z.url({ protocol: /^https$/, error: "must be an https URL" }),
      audience: z.array(z.string().min(1)).min(1, { error: "must list at least one audience" }),
      /** JWT claim holding the caller's org id. */
      orgClaim: z.string().min(1).default("org_id"),
    }),
  ],
  { error: 'mode must be "iam" or "jwt"' },
);

const workerImageSchema = z.discriminatedUnion(
  "kind",
  [
    /** Built from Dockerfile.worker at the repository root (linux/arm64) and pushed by cdk deploy. */
    z.strictObject({ kind: z.literal("asset") }),
    /** A pushed image, e.g. `<account>.dkr.ecr.<region>.amazonaws.com/dagy-worker:v1.0.0`. */
    z.strictObject({ kind: z.literal("uri"), uri: z.string().min(1) }),
  ],
  { error: 'kind must be "asset" or "uri"' },
);

/** Idle tasks one warm pool may keep (each is billed while it waits; see README "Warm pools"). */
export const MAX_WARM_POOL_SIZE = 50;

/** One warm pool: `size` idle worker tasks of a workload profile, waiting for one run each. */
const warmPoolSchema = z.strictObject({
  profile: workloadProfileSchema,
  size: z
    .int({ error: `must be a whole number from 1 to ${MAX_WARM_POOL_SIZE}` })
    .min(1, { error: `must be a whole number from 1 to ${MAX_WARM_POOL_SIZE}` })
    .max(MAX_WARM_POOL_SIZE, { error: `must be a whole number from 1 to ${MAX_WARM_POOL_SIZE}` }),
});

const SECRET_ARN_PATTERN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$/;

export const stackConfigSchema = z
  .strictObject({
    environment: z.enum(ENVIRONMENTS, {
      error: (issue) =>
        `${JSON.stringify(issue.input)} is not an environment; allowed: ${oneOf(ENVIRONMENTS)}`,
    }),
    /** Prefix of every physical name. Default `dagy`. */
    appName: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,15}$/, {
        error: "must be 1-16 lowercase letters, digits or '-', starting with a letter",
      })
      .default("dagy"),
    /** Pin the stack to an account/region (required with `vpc.vpcId`). Default: env-agnostic. */
    account: z
      .string()
      .regex(/^[0-9]{12}$/, { error: "must be a 12-digit account id" })
      .optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, { error: "must be a region like eu-west-1" })
      .optional(),
    workerImage: workerImageSchema.optional(),
    /** The guide's `lambda_image_uri`: same as `workerImage: { kind: "uri", uri }`. */
    lambdaImageUri: z.string().min(1).optional(),
    vpc: vpcSchema.default({ create: true }),
    defaultWorkloadProfile: workloadProfileSchema.optional(),
    /** CPU architecture of the worker task and of the image built from Dockerfile.worker. */
    architecture: z
      .enum(["ARM64", "X86_64"], { error: 'must be "ARM64" or "X86_64"' })
      .default("ARM64"),
    /** Optional: an email address subscribed to the alarm topic (confirm the subscription mail). */
    alarmEmail: z.email({ error: "must be an email address" }).optional(),
    /** Relaunches after infrastructure failures when a launch does not say. Default 2 (the runtime's). */
    maxRelaunches: z.int().min(0).max(10).optional(),
    apiAuth: apiAuthSchema.default({ mode: "iam" }),
    logRetentionDays: logRetentionSchema.optional(),
    traceExpirationDays: z.int().min(1).max(3650).optional(),
    /** Default `/ecs/<appName>-worker` in production, `/ecs/<appName>-worker-<environment>` elsewhere. */
    workerLogGroupName: z
      .string()
      .regex(/^[.\-_/#A-Za-z0-9]{1,512}$/, { error: "must be a valid CloudWatch log group name" })
      .optional(),
    /**
     * Secrets the worker may receive (execution role `secretsmanager:GetSecretValue`).
     * Default `arn:<partition>:secretsmanager:<region>:<account>:secret:<appName>/*`.
     */
    secretArnPatterns: z
      .array(
        z.string().regex(SECRET_ARN_PATTERN, {
          error:
            "must be a Secrets Manager ARN (pattern), e.g. arn:aws:secretsmanager:eu-west-1:123456789012:secret:dagy/*",
        }),
      )
      .min(1)
      .optional(),
    /**
     * A customer-managed KMS key the secrets are encrypted with: the execution role may then
     * `kms:Decrypt` with it (only through Secrets Manager). Default: none (AWS-managed key).
     */
    secretsKmsKeyArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, {
        error: "must be a KMS key ARN, e.g. arn:aws:kms:eu-west-1:123456789012:key/<key-id>",
      })
      .optional(),
    schedules: z.array(scheduleSchema).default([]),
    /**
     * Warm pools (issue #14): per workload profile, an ECS service keeping `size` idle workers
     * that take one run each from the pool's queue. Default per environment: none.
     */
    warmPool: z.array(warmPoolSchema).optional(),
    tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  })
  .superRefine((input, ctx) => {
    if (input.workerImage && input.lambdaImageUri) {
      ctx.addIssue({
        code: "custom",
        path: ["lambdaImageUri"],
        message: "set either workerImage or lambdaImageUri (its alias), not both",
      });
    }
    if ("create" in input.vpc && (input.vpc.natGateways ?? 0) > (input.vpc.maxAzs ?? 2)) {
      ctx.addIssue({
        code: "custom",
        path: ["vpc", "natGateways"],
        message: "must not exceed maxAzs (one NAT gateway per AZ at most)",
      });
    }
    const seen = new Set<string>();
    input.schedules.forEach((schedule, index) => {
      if (seen.has(schedule.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["schedules", index, "name"],
          message: `schedule name "${schedule.name}" is used twice; names must be unique`,
        });
      }
      seen.add(schedule.name);
    });
    const profiles = new Set<string>();
    input.warmPool?.forEach((pool, index) => {
      if (profiles.has(pool.profile)) {
        ctx.addIssue({
          code: "custom",
          path: ["warmPool", index, "profile"],
          message: `profile "${pool.profile}" has two warm pools; give each profile one pool (raise its size instead)`,
        });
      }
      profiles.add(pool.profile);
    });
  })
  .transform((input) => {
    const env: DagyEnvironment = input.environment;
    const defaults = ENVIRONMENT_DEFAULTS[env];
    const workerImage =
      input.workerImage ??
      (input.lambdaImageUri
        ? { kind: "uri" as const, uri: input.lambdaImageUri }
        : { kind: "asset" as const });
    const vpc =
      "create" in input.vpc
        ? {
            kind: "create" as const,
            maxAzs: input.vpc.maxAzs ?? defaults.maxAzs,
            natGateways: input.vpc.natGateways ?? defaults.natGateways,
          }
        : { kind: "lookup" as const, vpcId: input.vpc.vpcId };
    return {
      environment: env,
      appName: input.appName,
      /** `<appName>-<environment>`: prefix of table, cluster, function and rule names. */
      resourcePrefix: `${input.appName}-${env}`,
      account: input.account,
      region: input.region,
      workerImage,
      vpc,
      defaultWorkloadProfile: input.defaultWorkloadProfile ?? defaults.workloadProfile,
      architecture: input.architecture,
      alarmEmail: input.alarmEmail,
      maxRelaunches: input.maxRelaunches,
      apiAuth: input.apiAuth,
      logRetentionDays: input.logRetentionDays ?? defaults.logRetentionDays,
      traceExpirationDays: input.traceExpirationDays ?? defaults.traceExpirationDays,
      artifactNoncurrentExpirationDays: defaults.artifactNoncurrentExpirationDays,
      workerLogGroupName:
        input.workerLogGroupName ?? `/ecs/${input.appName}-worker${defaults.workerLogGroupSuffix}`,
      secretArnPatterns: input.secretArnPatterns,
      secretsKmsKeyArn: input.secretsKmsKeyArn,
      schedules: input.schedules,
      warmPool: input.warmPool ?? defaults.warmPool,
      tags: input.tags,
      retainData: defaults.retainData,
    };
  });

/** What a user may write (context and config file), before defaults. */
export type StackConfigInput = z.input<typeof stackConfigSchema>;
/** The resolved configuration every construct receives. */
export type StackConfig = z.output<typeof stackConfigSchema>;
export type ScheduleConfig = StackConfig["schedules"][number];
export type ApiAuthConfig = StackConfig["apiAuth"];
export type WorkerImageConfig = StackConfig["workerImage"];
export type VpcConfig = StackConfig["vpc"];
export type WarmPoolConfig = StackConfig["warmPool"][number];

/**
 * Validates and resolves a configuration. Throws `ConfigurationError` listing every problem,
 * each line naming the field path (`schedules[0].expression: ...`).
 */
export function parseStackConfig(input: unknown): StackConfig {
  const result = stackConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = formatPath(issue.path);
    const keys = issue.code === "unrecognized_keys" ? ` (${issue.keys.join(", ")})` : "";
    return `  - ${path || "(config)"}: ${issue.message}${keys}`;
  });
  throw new ConfigurationError(`Invalid Dagy stack configuration:\n${lines.join("\n")}`);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`))
    .join("");
}

/** Name of the stack for an environment, e.g. `Dagy-develop` for appName `dagy`. */
export function stackNameFor(config: Pick<StackConfig, "appName" | "environment">): string {
  const app = config.appName.charAt(0).toUpperCase() + config.appName.slice(1);
  return `${app}-${config.environment}`;
}

/**
 * Prefix of the EventBridge rules the API creates for runtime schedules: `<appName>-<env>-`.
 * The API Lambda may only manage rules under it.
 */
export function runtimeScheduleRulePrefix(config: Pick<StackConfig, "resourcePrefix">): string {
  return `${config.resourcePrefix}-`;
}

/**
 * Name of the rule or Scheduler schedule for a schedule declared in config:
 * `<appName>-cfg-<env>-<name>`. Deliberately outside the runtime prefix so the API cannot
 * modify or delete what the stack owns. At most 16 + 5 + 10 + 1 + 32 = 64 characters.
 */
export function configScheduleResourceName(
  config: Pick<StackConfig, "appName" | "environment">,
  scheduleName: string,
): string {
  return `${config.appName}-cfg-${config.environment}-${scheduleName}`;
}
