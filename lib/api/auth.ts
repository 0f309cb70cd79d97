/**
 * Which organization a request acts for.
 *
 * - `iam`: API Gateway's IAM authorizer has already decided the caller may call the API at all;
 *   the org comes from the request (`org_id` in the body or query). IAM mode therefore trusts
 *   the caller's `org_id`: it is meant for administrators and service-to-service callers.
 * - `jwt`: the org is the token's claim (`org_id` by default). A body or query `org_id` that
 *   differs from the claim is refused (403); a token without the claim is refused (401). One org
 *   can never launch, read or cancel another org's runs.
 */
import { ForbiddenError, UnauthorizedError, ValidationError } from "../errors";
import type { HttpApiEvent } from "./http";

export { UnauthorizedError } from "../errors";

export interface OrgRequirement {
  /** When true, a request without any org is a 400 (IAM) or 401 (JWT). */
  readonly required: boolean;
}

export interface AuthResolver {
  readonly mode: "iam" | "jwt";
  /**
   * The org the request acts for, given the `org_id` the request itself names (body or query).
   * `undefined` only when not required and the caller is not bound to an org (IAM, no org_id).
   */
  resolveOrg(
    event: HttpApiEvent,
    requestedOrgId: string | undefined,
    requirement: OrgRequirement,
  ): string | undefined;
}

export function iamAuthResolver(): AuthResolver {
  return {
    mode: "iam",
    resolveOrg(_event, requestedOrgId, { required }) {
      if (requestedOrgId === undefined && required) {
        throw new ValidationError(
          "org_id: required (in the JSON body or as the ?org_id= query parameter)",
          "org_id",
        );
      }
      return requestedOrgId;
    },
  };
}

export interface JwtAuthOptions {
  /** Claim holding the caller's org. Default `org_id`. */
  readonly orgClaim?: string;
}

export function jwtAuthResolver(options: JwtAuthOptions = {}): AuthResolver {
  const orgClaim = options.orgClaim ?? "org_id";
  return {
    mode: "jwt",
    resolveOrg(event, requestedOrgId) {
      const claims = event.requestContext.authorizer?.jwt?.claims;
      const claim = claims?.[orgClaim];
      if (typeof claim !== "string" || claim === "") {
        throw new UnauthorizedError(`The access token carries no "${orgClaim}" claim`);
      }
      if (requestedOrgId !== undefined && requestedOrgId !== claim) {
        throw new ForbiddenError(
          `org_id: "${requestedOrgId}" is not the organization of the access token`,
        );
      }
      return claim;
    },
  };
}

export type AuthMode = "iam" | "jwt";

export function createAuthResolver(mode: AuthMode, options: JwtAuthOptions = {}): AuthResolver {
  return mode === "jwt" ? jwtAuthResolver(options) : iamAuthResolver();
}
