/**
 * The edge's half of authorization: turns API Gateway's authorizer context into a `Caller`.
 * Which org a caller may act for is decided by the services (lib/services/caller.ts).
 *
 * - `iam`: API Gateway's IAM authorizer admitted the caller; the principal is recorded.
 * - `jwt`: the JWT authorizer verified the token; its claims decide the org.
 * - `local`: the embedded platform (127.0.0.1, no authentication).
 */
import type { Caller } from "../services/caller";
import type { HttpApiEvent } from "./http";

export type AuthMode = "iam" | "jwt" | "local";

export interface JwtAuthOptions {
  /** Claim holding the caller's org. Default `org_id`. */
  readonly orgClaim?: string;
}

export interface AuthResolver {
  readonly mode: AuthMode;
  callerOf(event: HttpApiEvent): Caller;
}

export function createAuthResolver(mode: AuthMode, options: JwtAuthOptions = {}): AuthResolver {
  const orgClaim = options.orgClaim ?? "org_id";
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
        return { kind: "iam", ...(principal ? { principal } : {}), sourceIp };
      }
      return { kind: "local", sourceIp };
    },
  };
}
