/**
 * The edge's half of authorization: turns API Gateway's authorizer context into a `Caller`.
 * Which org a caller may act for is decided by the services (lib/services/caller.ts).
 *
 * - `iam`: API Gateway's IAM authorizer admitted the caller; the principal is recorded. A
 *   session of the worker task role (`workerRoleArn`) is a `worker` caller: a parent run's worker
 *   asking for an isolated map's children, which the services allow that and nothing else.
 * - `jwt`: the JWT authorizer verified the token; its claims decide the org.
 * - `local`: the embedded platform (127.0.0.1, no authentication).
 */
import type { Caller } from "../services/caller";
import type { HttpApiEvent } from "./http";

export type AuthMode = "iam" | "jwt" | "local";

export interface JwtAuthOptions {
  /** Claim holding the caller's org. Default `org_id`. */
  readonly orgClaim?: string;
  /**
   * IAM mode: the worker task role (`arn:<partition>:iam::<account>:role[/path]/<name>`, the
   * launcher's DAGY_ECS_TASK_ROLE_ARN). Its sessions are `worker` callers.
   */
  readonly workerRoleArn?: string;
}

/**
 * Matches the sessions of `roleArn`: an assumed role's ARN is
 * `arn:<partition>:sts::<account>:assumed-role/<role name>/<session name>` (the role's path is
 * not part of it; IAM user guide, "IAM identifiers", ARNs of assumed-role sessions).
 */
export function roleSessionMatcher(roleArn: string): (principal: string) => boolean {
  const role = /^arn:([\w-]+):iam::(\d{12}):role\/(?:[^/]+\/)*([\w+=,.@-]+)$/.exec(roleArn);
  if (role === null) return () => false;
  const [, partition, account, name] = role;
  const prefix = `arn:${partition}:sts::${account}:assumed-role/${name}/`;
  return (principal) =>
    principal.startsWith(prefix) && /^[\w+=,.@-]+$/.test(principal.slice(prefix.length));
}

export interface AuthResolver {
  readonly mode: AuthMode;
  callerOf(event: HttpApiEvent): Caller;
}

export function createAuthResolver(mode: AuthMode, options: JwtAuthOptions = {}): AuthResolver {
  const orgClaim = options.orgClaim ?? "org_id";
  const isWorker =
    options.workerRoleArn !== undefined ? roleSessionMatcher(options.workerRoleArn) : () => false;
  return {
    mode,
    callerOf(event) {
      const sourceIp = event.requestContext.http.sourceIp;
      if (mode === "jwt") {
        return {
          kind: "jwt",
          claims: event.requestContext.authorizer?.jwt?.claims ?? {},
          orgClaim,
          sourceIp,
        };
      }
      if (mode === "iam") {
        const principal = event.requestContext.authorizer?.iam?.userArn;
        if (principal && isWorker(principal)) return { kind: "worker", principal, sourceIp };
        return { kind: "iam", ...(principal ? { principal } : {}), sourceIp };
      }
      return { kind: "local", sourceIp };
    },
  };
}
