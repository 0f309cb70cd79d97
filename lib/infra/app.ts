/**
 * Reads the configuration from CDK context once and creates the stack. bin/app.ts calls this;
 * tests call it with their own App and context.
 *
 * Context:
 * - `environment` (required): develop | staging | production (`-c environment=production`).
 * - `config` (optional): path of a JSON file with more StackConfig fields (`-c config=dagy.prod.json`),
 *   relative to the working directory. It may repeat `environment` only with the same value.
 * - `warmPool` (optional): the warm pools, overriding the file's — a JSON array in cdk.json or
 *   a JSON string on the command line (`-c 'warmPool=[{"profile":"small","size":2}]'`).
 */
import { Validations, type App, type Environment } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigurationError } from "../errors";
import { parseStackConfig, stackNameFor, type StackConfig } from "./config";
import { DagyStack } from "./stack";

export interface DagyAppOptions {
  /** Account/region of the credentials in use (CDK_DEFAULT_*), needed only for VPC lookups. */
  readonly defaultEnv?: Environment;
  /** Working directory for a relative `config` path. Default `process.cwd()` of the caller. */
  readonly cwd?: string;
  /** Run the AwsSolutions cdk-nag pack on synth. Default true. */
  readonly nag?: boolean;
}

/**
 * CDK feature flags the stack relies on, applied when the context does not set them (they
 * belong in cdk.json; this keeps tests and the app identical until they are there).
 * - serverAccessLogsUseBucketPolicy: S3 log delivery writes through a bucket policy, so the log
 *   bucket keeps ACLs disabled (ObjectOwnership BucketOwnerEnforced).
 */
export const DAGY_FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true,
};

/** Sets `DAGY_FEATURE_FLAGS` the context leaves unset. Call before adding any construct. */
export function applyFeatureFlags(app: App): void {
  for (const [flag, value] of Object.entries(DAGY_FEATURE_FLAGS)) {
    if (app.node.tryGetContext(flag) === undefined) app.node.setContext(flag, value);
  }
}

/** Builds the config from context (and the optional file) and validates it. */
export function configFromContext(app: App, cwd: string): StackConfig {
  const environment: unknown = app.node.tryGetContext("environment");
  const configPath: unknown = app.node.tryGetContext("config");
  let fileConfig: Record<string, unknown> = {};
  if (configPath !== undefined) {
    if (typeof configPath !== "string" || configPath === "") {
      throw new ConfigurationError('context "config" must be the path of a JSON file');
    }
    const file = path.resolve(cwd, configPath);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (error) {
      throw new ConfigurationError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new Error("expected a JSON object");
      }
      fileConfig = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ConfigurationError(`config file ${file} is not valid: ${(error as Error).message}`);
    }
    if (
      fileConfig.environment !== undefined &&
      environment !== undefined &&
      fileConfig.environment !== environment
    ) {
      throw new ConfigurationError(
        `config file ${file} sets environment ${JSON.stringify(fileConfig.environment)} but context environment is ${JSON.stringify(environment)}; pass the same environment with -c environment=<name>`,
      );
    }
  }
  const warmPool = warmPoolFromContext(app.node.tryGetContext("warmPool"));
  return parseStackConfig({
    ...fileConfig,
    environment: environment ?? fileConfig.environment,
    ...(warmPool !== undefined ? { warmPool } : {}),
  });
}

/** The `warmPool` context: a JSON array (cdk.json) or its JSON text (`-c warmPool=...`). */
function warmPoolFromContext(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    throw new ConfigurationError(
      `context "warmPool" must be a JSON array such as [{"profile":"small","size":2}]: ${(error as Error).message}`,
    );
  }
}

/** Creates `Dagy-<environment>` in `app` from its context. Throws ConfigurationError. */
export function buildDagyApp(app: App, options: DagyAppOptions = {}): DagyStack {
  applyFeatureFlags(app);
  const config = configFromContext(app, options.cwd ?? process.cwd());
  const stack = new DagyStack(app, stackNameFor(config), {
    config,
    env: stackEnvironment(config, options.defaultEnv),
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

/**
 * Env-agnostic unless the config pins account/region, or a VPC lookup needs them (lookups
 * resolve against a concrete account and region).
 */
function stackEnvironment(
  config: StackConfig,
  defaults: Environment | undefined,
): Environment | undefined {
  const account = config.account ?? (config.vpc.kind === "lookup" ? defaults?.account : undefined);
  const region = config.region ?? (config.vpc.kind === "lookup" ? defaults?.region : undefined);
  if (config.vpc.kind === "lookup" && (account === undefined || region === undefined)) {
    throw new ConfigurationError(
      "vpc.vpcId: looking up an existing VPC needs the account and region: set account and region in the config, or run with AWS credentials (CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION)",
    );
  }
  return account === undefined && region === undefined ? undefined : { account, region };
}
