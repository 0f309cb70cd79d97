/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
/**
 * What the lifecycle commands (launch, status, runs, logs, cancel, schedules, register, deps,
 * deployments) share: target options, the org, the API client for a target, run rendering.
 */
import { FUNCTION_ENV } from "../config/env";
import { ConfigurationError } from "../errors";
import { DEFAULT_ORG } from "../local/state";
import { ApiClient, bearerAuthorizer, httpTransport, type RunBody } from "./api-client";
import { formatDuration, type CliIO } from "./io";
import { resolveTarget, TARGET_OPTIONS, targetFlags, type Target } from "./target";

/** parseArgs options every lifecycle command accepts. */
export const COMMON_OPTIONS = {
  ...TARGET_OPTIONS,
  org: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Help text for COMMON_OPTIONS, appended to each command's usage. */
export const COMMON_USAGE = `Target (default: the local platform started by \`npm start\` / \`dagy dev\`):
      --org <org_id>         Organization (default: $DAGY_ORG_ID, else ${DEFAULT_ORG}).
      --data-dir <dir>       The local platform's data directory (default .dagy).
      --port <port>          The local platform's port (default: where it runs, else 8787).
      --outputs <file>       A deployed stack: the file \`cdk deploy --outputs-file\` wrote
                             (its API URL and auth mode).
      --stack <name>         Which stack of that file, when it holds several.
      --url <url>            Any Dagy HTTP API ($DAGY_API_URL).
      --token <jwt>          Bearer token for an API in JWT mode ($DAGY_TOKEN).
  A deployed stack's API in IAM mode gets requests signed (SigV4) with your AWS credentials:
  the SDK's default chain (AWS_PROFILE, SSO, AWS_ACCESS_KEY_ID, ...). They need
  execute-api:Invoke on the API, nothing else. $DAGY_API_AUTH_MODE (iam, jwt, none) overrides
  the mode the outputs or the URL imply.
  -h, --help                 Show this help.
`;

/**
 * The org a command acts for: `--org`, else `$DAGY_ORG_ID`, else — against an API in JWT mode,
 * which acts for the token's org only — the token's org claim, else the local default.
 */
export function orgOf(
  values: Record<string, unknown> & { org?: string | undefined },
  io: CliIO,
): string {
  const explicit = values.org ?? io.env.DAGY_ORG_ID;
  if (explicit !== undefined) return explicit;
  const target = targetOf(values, io);
  if (target.kind === "remote" && target.auth.mode === "jwt") {
    const claim = io.env[FUNCTION_ENV.apiOrgClaim] ?? "org_id";
    const org = jwtClaim(target.auth.token, claim);
    if (org === undefined) {
      throw new ConfigurationError(
        `the token is not a JWT with a "${claim}" claim, which names the org it acts for: pass --org <org_id>`,
      );
    }
    return org;
  }
  return DEFAULT_ORG;
}

/** A string claim of a JWT's payload, read without verifying it (the API verifies). */
function jwtClaim(token: string, claim: string): string | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as unknown;
    if (claims === null || typeof claims !== "object") return undefined;
    const value = (claims as Record<string, unknown>)[claim];
    return typeof value === "string" && value !== "" ? value : undefined;
  } catch {
    return undefined;
  }
}

export function targetOf(values: Record<string, unknown>, io: CliIO): Target {
  return resolveTarget(targetFlags(values), io.env, io.cwd);
}

/** The API of a target: its URL, with requests signed or carrying a token as it requires. */
export async function apiClientFor(target: Target): Promise<ApiClient> {
  if (target.kind === "local") {
    return new ApiClient(
      httpTransport(target.apiUrl, {
        hint:
          target.state === undefined
            ? "start the local platform with `npm start` (or `npx dagy dev`) in another terminal"
            : `the platform recorded in ${target.dataDir} does not answer`,
      }),
    );
  }
  const hint = `check the API URL (from ${target.source})`;
  switch (target.auth.mode) {
    case "none":
      return new ApiClient(httpTransport(target.apiUrl, { hint }));
    case "jwt":
      return new ApiClient(
        httpTransport(target.apiUrl, { hint, authorize: bearerAuthorizer(target.auth.token) }),
      );
    case "iam": {
      const { configuredRegion, sigV4Authorizer } =
        require("./request-signing") as typeof import("./request-signing");
      const region = target.auth.region ?? (await configuredRegion());
      if (region === undefined) {
        throw new ConfigurationError(
          `the region of the Dagy API at ${target.apiUrl} is unknown: set AWS_REGION or your profile's region`,
        );
      }
      return new ApiClient(
        httpTransport(target.apiUrl, { hint, authorize: sigV4Authorizer({ region }) }),
      );
    }
  }
}

export const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "12:03:04" style local time, or "-" */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

export function runDuration(run: Pick<RunBody, "started_at" | "completed_at">): string {
  if (!run.started_at) return "-";
  const end = run.completed_at ? Date.parse(run.completed_at) : Date.now();
  return formatDuration(end - Date.parse(run.started_at)) + (run.completed_at ? "" : "…");
}

export function requireString(value: string | undefined, option: string, command: string): string {
  if (value === undefined || value === "") {
    throw new ConfigurationError(`dagy ${command}: ${option} is required`);
  }
  return value;
}
