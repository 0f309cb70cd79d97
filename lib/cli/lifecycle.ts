/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
/**
 * What the lifecycle commands (launch, status, runs, logs, cancel, schedules, register, deps,
 * deployments) share: target options, the org, the API client for a target, run rendering.
 */
import { ConfigurationError } from "../errors";
import { DEFAULT_ORG } from "../local/state";
import { ApiClient, httpTransport, type RunBody } from "./api-client";
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
      --url <url>            Any Dagy HTTP API that needs no request signing ($DAGY_API_URL).
      --outputs <file>       A deployed stack: the file \`cdk deploy --outputs-file\` wrote.
      --stack <name>         Which stack of that file, when it holds several.
  Without flags, DAGY_* stack variables in the environment (DAGY_ARTIFACT_BUCKET,
  DAGY_RUNS_TABLE, ...) also select a deployed stack; commands then use your AWS credentials.
  -h, --help                 Show this help.
`;

export function orgOf(values: { org?: string | undefined }, io: CliIO): string {
  return values.org ?? io.env.DAGY_ORG_ID ?? DEFAULT_ORG;
}

export function targetOf(values: Record<string, unknown>, io: CliIO): Target {
  return resolveTarget(targetFlags(values), io.env, io.cwd);
}

/** The API of a target: HTTP for the local platform and URLs, in-process for a stack. */
export async function apiClientFor(target: Target): Promise<ApiClient> {
  switch (target.kind) {
    case "local":
      return new ApiClient(
        httpTransport(
          target.apiUrl,
          target.state === undefined
            ? "start the local platform with `npm start` (or `npx dagy dev`) in another terminal"
            : `the platform recorded in ${target.dataDir} does not answer`,
        ),
      );
    case "http":
      return new ApiClient(httpTransport(target.apiUrl, "check --url / DAGY_API_URL"));
    case "aws": {
      const { inProcessTransport } = require("./aws-target") as typeof import("./aws-target");
      return new ApiClient(await inProcessTransport(target));
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
