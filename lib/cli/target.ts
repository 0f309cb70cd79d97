/**
 * Where a command's requests go. Every target is a Dagy HTTP API: a base URL and how requests
 * prove who sends them.
 *
 * - `local` (the default): the embedded platform started by `dagy dev` / `npm start` (the URL
 *   it recorded in `<dataDir>/platform.json`, else `http://127.0.0.1:$DAGY_PORT|8787`),
 *   unauthenticated like the platform itself.
 * - `remote`: a deployed stack's API, named by `--outputs cdk-outputs.json` (what `cdk deploy
 *   --outputs-file` writes) or `DAGY_API_URL`, or any `--url`. Requests are SigV4-signed
 *   (IAM mode) or carry `--token` / `DAGY_TOKEN` (JWT mode).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigurationError } from "../errors";
import { FUNCTION_ENV, PLATFORM_ENV } from "../config/env";
import { EXTRA_STACK_OUTPUTS, STACK_OUTPUTS, type StackOutputKey } from "../config/stack-outputs";
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

/** How a remote API learns the caller (the stack's `apiAuth.mode`). */
export type ApiAuth =
  | { readonly mode: "none" }
  /** SigV4 for `execute-api`; `region` undefined: the caller's AWS configuration decides. */
  | { readonly mode: "iam"; readonly region?: string }
  | { readonly mode: "jwt"; readonly token: string };

/** A Dagy HTTP API elsewhere: a deployed stack's, or any `--url`. */
export interface RemoteTarget {
  readonly kind: "remote";
  readonly apiUrl: string;
  readonly auth: ApiAuth;
  /** Where the URL came from, for messages. */
  readonly source: string;
}

export type Target = LocalTarget | RemoteTarget;

type Env = Readonly<Record<string, string | undefined>>;

export interface TargetFlags {
  /** `--url`: a Dagy HTTP API. */
  readonly url?: string;
  /** `--token`: a bearer token for an API in JWT mode. */
  readonly token?: string;
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
  token: { type: "string" },
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
  const token = pick("token");
  const outputs = pick("outputs");
  const stack = pick("stack");
  const dataDir = pick("data-dir");
  const port = pick("port");
  if (url !== undefined) flags.url = url;
  if (token !== undefined) flags.token = token;
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

/** What the CLI needs of a deployed stack, from its outputs. */
export interface StackApi {
  readonly apiUrl: string;
  readonly authMode?: string;
  readonly region?: string;
}

/**
 * Reads a `cdk deploy --outputs-file` document: `{ "<StackName>": { "<OutputKey>": "<value>" } }`;
 * `stack` picks one when it holds several.
 */
export function stackApiFromOutputsFile(document: unknown, file: string, stack?: string): StackApi {
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
  if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) {
    throw new ConfigurationError(`${file}: stack "${name}" has no outputs object`);
  }
  const output = (key: string): string | undefined => {
    const value = (outputs as Record<string, unknown>)[key];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const apiUrl = output(EXTRA_STACK_OUTPUTS.apiUrl);
  if (apiUrl === undefined) {
    throw new ConfigurationError(
      `${file}: stack "${name}" has no ${EXTRA_STACK_OUTPUTS.apiUrl} output; ` +
        "was it written by `cdk deploy --outputs-file` for a Dagy stack?",
    );
  }
  const authMode = output(EXTRA_STACK_OUTPUTS.apiAuthMode);
  const region = output(REGION_OUTPUT);
  return {
    apiUrl,
    ...(authMode !== undefined ? { authMode } : {}),
    ...(region !== undefined ? { region } : {}),
  };
}

const REGION_OUTPUT = (Object.keys(STACK_OUTPUTS) as StackOutputKey[]).find(
  (key) => STACK_OUTPUTS[key] === PLATFORM_ENV.region,
) as StackOutputKey;

/** `https://<id>.execute-api.<region>.amazonaws.com/...`: API Gateway's own host. */
const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

function executeApiRegion(apiUrl: string): string | undefined {
  try {
    return EXECUTE_API_HOST.exec(new URL(apiUrl).hostname)?.[1];
  } catch {
    return undefined;
  }
}

const AUTH_MODES = ["iam", "jwt", "none"] as const;
type AuthMode = (typeof AUTH_MODES)[number];

function authModeOf(value: string, source: string): AuthMode {
  if (!(AUTH_MODES as readonly string[]).includes(value)) {
    throw new ConfigurationError(`${source}: "${value}" is not one of ${AUTH_MODES.join(", ")}`);
  }
  return value as AuthMode;
}

/**
 * How to authenticate to a remote API: `DAGY_API_AUTH_MODE` if set, else the stack's output,
 * else a token means JWT mode, else an `execute-api` host or a stack means IAM mode, else none.
 */
function authFor(
  apiUrl: string,
  flags: TargetFlags,
  env: Env,
  stack: StackApi | undefined,
): ApiAuth {
  const token = flags.token ?? emptyToUndefined(env.DAGY_TOKEN);
  const explicit = emptyToUndefined(env[FUNCTION_ENV.apiAuthMode]);
  const mode: AuthMode =
    explicit !== undefined
      ? authModeOf(explicit, FUNCTION_ENV.apiAuthMode)
      : stack?.authMode !== undefined
        ? authModeOf(stack.authMode, EXTRA_STACK_OUTPUTS.apiAuthMode)
        : token !== undefined
          ? "jwt"
          : stack !== undefined || executeApiRegion(apiUrl) !== undefined
            ? "iam"
            : "none";
  switch (mode) {
    case "none":
      return { mode };
    case "jwt":
      if (token === undefined) {
        throw new ConfigurationError(
          `the Dagy API at ${apiUrl} takes a bearer token (JWT mode): pass --token or set DAGY_TOKEN`,
        );
      }
      return { mode, token };
    case "iam": {
      const region =
        stack?.region ??
        emptyToUndefined(env.AWS_REGION) ??
        emptyToUndefined(env.AWS_DEFAULT_REGION) ??
        executeApiRegion(apiUrl);
      return region !== undefined ? { mode, region } : { mode };
    }
  }
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

/**
 * Resolves the target: `--url`, then `--outputs`, then `DAGY_API_URL`, then the local platform.
 */
export function resolveTarget(flags: TargetFlags, env: Env, cwd: string): Target {
  if (flags.url !== undefined) {
    const apiUrl = trimSlash(flags.url);
    return {
      kind: "remote",
      apiUrl,
      auth: authFor(apiUrl, flags, env, undefined),
      source: "--url",
    };
  }
  if (flags.outputs !== undefined) {
    let document: unknown;
    try {
      document = JSON.parse(readFileSync(resolve(cwd, flags.outputs), "utf8"));
    } catch (error) {
      throw new ConfigurationError(
        `--outputs: cannot read ${flags.outputs} (${(error as Error).message})`,
      );
    }
    const stack = stackApiFromOutputsFile(document, flags.outputs, flags.stack);
    const apiUrl = trimSlash(stack.apiUrl);
    return {
      kind: "remote",
      apiUrl,
      auth: authFor(apiUrl, flags, env, stack),
      source: flags.outputs,
    };
  }
  const fromEnv = emptyToUndefined(env.DAGY_API_URL);
  if (fromEnv !== undefined) {
    const apiUrl = trimSlash(fromEnv);
    return {
      kind: "remote",
      apiUrl,
      auth: authFor(apiUrl, flags, env, undefined),
      source: "DAGY_API_URL",
    };
  }

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

const AUTH_LABEL: Record<ApiAuth["mode"], string> = {
  none: "unsigned",
  iam: "SigV4-signed",
  jwt: "bearer token",
};

/** One line saying where commands go, for `--verbose` and error messages. */
export function describeTarget(target: Target): string {
  switch (target.kind) {
    case "local":
      return `the local platform at ${target.apiUrl} (data in ${target.dataDir})`;
    case "remote":
      return `the Dagy API at ${target.apiUrl} (from ${target.source}; ${AUTH_LABEL[target.auth.mode]})`;
  }
}
