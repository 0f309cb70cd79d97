/**
 * Which platform a lifecycle command talks to.
 *
 * - `local` (the default): the embedded platform started by `dagy dev` / `npm start`. API-backed
 *   commands call its HTTP API (the URL it recorded in `<dataDir>/platform.json`, else
 *   `http://127.0.0.1:$DAGY_PORT|8787`); store-backed commands (register, deps, deployments)
 *   use its DynamoDB and S3 endpoints, or open `<dataDir>` themselves when it is not running.
 * - `http`: any Dagy API reachable without request signing (`--url` / `DAGY_API_URL`).
 * - `aws`: a deployed stack, named by `--outputs cdk-outputs.json` (what `cdk deploy
 *   --outputs-file` writes) or by the `DAGY_*` variables themselves. Commands then call the
 *   service functions directly with the caller's AWS credentials, as the guide's Python does
 *   (the deployed API uses IAM auth, which would need SigV4 signing here).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigurationError } from "../errors";
import { LAUNCHER_ENV, PLATFORM_ENV } from "../config/env";
import { FUNCTION_ENV } from "../config/env";
import { envFromStackOutputs, EXTRA_STACK_OUTPUTS } from "../config/stack-outputs";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_PORT,
  readPlatformState,
  type PlatformState,
} from "../local/state";

export { DEFAULT_DATA_DIR, DEFAULT_PORT, type PlatformState } from "../local/state";

export interface LocalTarget {
  readonly kind: "local";
  readonly apiUrl: string;
  readonly dataDir: string;
  /** Present while a platform is running on `dataDir`. */
  readonly state?: PlatformState;
}

export interface HttpTarget {
  readonly kind: "http";
  readonly apiUrl: string;
}

export interface AwsTarget {
  readonly kind: "aws";
  /** `DAGY_*` (and `AWS_REGION`) values describing the stack. */
  readonly env: Readonly<Record<string, string>>;
  /** Where the values came from, for messages. */
  readonly source: string;
}

export type Target = LocalTarget | HttpTarget | AwsTarget;

type Env = Readonly<Record<string, string | undefined>>;

export interface TargetFlags {
  /** `--url`: a Dagy HTTP API. */
  readonly url?: string;
  /** `--outputs`: a `cdk deploy --outputs-file` JSON file. */
  readonly outputs?: string;
  /** `--stack`: which stack of the outputs file (needed when it holds several). */
  readonly stack?: string;
  /** `--data-dir`: the local platform's directory. */
  readonly dataDir?: string;
  /** `--port`: the local platform's port. */
  readonly port?: string;
}

/** Option definitions every lifecycle command accepts (for node:util parseArgs). */
export const TARGET_OPTIONS = {
  url: { type: "string" },
  outputs: { type: "string" },
  stack: { type: "string" },
  "data-dir": { type: "string" },
  port: { type: "string" },
} as const;

/** Reads the target flags out of parseArgs values. */
export function targetFlags(values: Record<string, unknown>): TargetFlags {
  const pick = (name: string): string | undefined =>
    typeof values[name] === "string" ? values[name] : undefined;
  const flags: { -readonly [K in keyof TargetFlags]: TargetFlags[K] } = {};
  const url = pick("url");
  const outputs = pick("outputs");
  const stack = pick("stack");
  const dataDir = pick("data-dir");
  const port = pick("port");
  if (url !== undefined) flags.url = url;
  if (outputs !== undefined) flags.outputs = outputs;
  if (stack !== undefined) flags.stack = stack;
  if (dataDir !== undefined) flags.dataDir = dataDir;
  if (port !== undefined) flags.port = port;
  return flags;
}

export function parsePort(value: string, source: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigurationError(`${source}: "${value}" is not a port number (0-65535)`);
  }
  return port;
}

/**
 * Maps a `cdk deploy --outputs-file` document to `DAGY_*` values. The file is
 * `{ "<StackName>": { "<OutputKey>": "<value>" } }`; `stack` picks one when it holds several.
 */
export function envFromOutputsFile(
  document: unknown,
  file: string,
  stack?: string,
): Record<string, string> {
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new ConfigurationError(`${file}: expected {"<stack name>": {"<output>": "<value>"}}`);
  }
  const stacks = document as Record<string, unknown>;
  const names = Object.keys(stacks);
  let name: string;
  if (stack !== undefined) {
    if (!(stack in stacks)) {
      throw new ConfigurationError(
        `--stack: "${stack}" is not in ${file}; it holds ${names.join(", ") || "no stacks"}`,
      );
    }
    name = stack;
  } else if (names.length === 1) {
    name = names[0] as string;
  } else {
    throw new ConfigurationError(
      `${file} holds ${names.length} stacks (${names.join(", ")}); choose one with --stack`,
    );
  }
  const outputs = stacks[name];
  if (outputs === null || typeof outputs !== "object") {
    throw new ConfigurationError(`${file}: stack "${name}" has no outputs object`);
  }
  const env = envFromStackOutputs(
    Object.entries(outputs as Record<string, unknown>)
      .filter((entry): entry is [string, string] => typeof entry[1] === "string")
      .map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
  );
  const launchFunctionArn = (outputs as Record<string, unknown>)[
    EXTRA_STACK_OUTPUTS.launchFunctionArn
  ];
  // Runtime schedules target the launch function.
  if (typeof launchFunctionArn === "string") {
    env[FUNCTION_ENV.launchFunctionArn] = launchFunctionArn;
  }
  if (env[LAUNCHER_ENV.artifactBucket] === undefined || env[PLATFORM_ENV.runsTable] === undefined) {
    throw new ConfigurationError(
      `${file}: stack "${name}" lacks the Dagy outputs (artifact bucket, runs table); ` +
        "was it written by `cdk deploy --outputs-file` for a Dagy stack?",
    );
  }
  return env;
}

/** The `DAGY_*` values of an environment, when they describe a deployed stack. */
function awsEnvFrom(env: Env): Record<string, string> | undefined {
  if (env[PLATFORM_ENV.dynamodbEndpoint] !== undefined) return undefined;
  if (env[LAUNCHER_ENV.artifactBucket] === undefined || env[PLATFORM_ENV.runsTable] === undefined) {
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (name.startsWith("DAGY_") || name === "AWS_REGION")) {
      out[name] = value;
    }
  }
  return out;
}

/**
 * Resolves the target: flags first, then `DAGY_API_URL`, then `DAGY_*` stack variables, then
 * the local platform.
 */
export function resolveTarget(flags: TargetFlags, env: Env, cwd: string): Target {
  if (flags.url !== undefined) return { kind: "http", apiUrl: trimSlash(flags.url) };
  if (flags.outputs !== undefined) {
    let document: unknown;
    try {
      document = JSON.parse(readFileSync(resolve(cwd, flags.outputs), "utf8"));
    } catch (error) {
      throw new ConfigurationError(
        `--outputs: cannot read ${flags.outputs} (${(error as Error).message})`,
      );
    }
    const stackEnv = envFromOutputsFile(document, flags.outputs, flags.stack);
    if (env.AWS_REGION !== undefined && stackEnv.AWS_REGION === undefined) {
      stackEnv.AWS_REGION = env.AWS_REGION;
    }
    return { kind: "aws", env: stackEnv, source: flags.outputs };
  }
  if (env.DAGY_API_URL !== undefined && env.DAGY_API_URL !== "") {
    return { kind: "http", apiUrl: trimSlash(env.DAGY_API_URL) };
  }
  const fromEnv = awsEnvFrom(env);
  if (fromEnv !== undefined) return { kind: "aws", env: fromEnv, source: "DAGY_* variables" };

  const dataDir = resolve(cwd, flags.dataDir ?? env.DAGY_DATA_DIR ?? DEFAULT_DATA_DIR);
  const state = readPlatformState(dataDir);
  if (flags.port === undefined && state !== undefined) {
    return { kind: "local", apiUrl: state.apiUrl, dataDir, state };
  }
  const port =
    flags.port !== undefined
      ? parsePort(flags.port, "--port")
      : env.DAGY_PORT !== undefined
        ? parsePort(env.DAGY_PORT, "DAGY_PORT")
        : DEFAULT_PORT;
  return {
    kind: "local",
    apiUrl: `http://127.0.0.1:${port}`,
    dataDir,
    ...(state !== undefined ? { state } : {}),
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** One line saying where commands go, for `--verbose` and error messages. */
export function describeTarget(target: Target): string {
  switch (target.kind) {
    case "local":
      return `local platform at ${target.apiUrl} (data in ${target.dataDir})`;
    case "http":
      return `Dagy API at ${target.apiUrl}`;
    case "aws":
      return `AWS stack from ${target.source}`;
  }
}
