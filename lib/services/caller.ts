/**
 * Who is calling, as the edge learned it, and which org they may act for. The edge (lib/api)
 * only translates its authorizer context into a `Caller`; the decision is made here, once, for
 * every service.
 *
 * - `iam`: API Gateway's IAM authorizer has already decided the caller may call the API at all;
 *   the org comes from the request (`org_id`). IAM mode trusts the caller's `org_id`: it is for
 *   administrators and service-to-service callers.
 * - `jwt`: the org is the token's claim. A requested org that differs from the claim is
 *   refused (403); a token without the claim is refused (401). One org never acts for another.
 * - `local`: the embedded platform on 127.0.0.1 (no authentication, as IAM mode).
 * - `worker`: in IAM mode, a parent run's worker signing as the worker task role (an isolated
 *   map's children). It may launch child runs of an active run of the org it names, and cancel
 *   such children — nothing else (`workerOrg`; the runs service checks the parent). Every other
 *   service call is refused here, whatever IAM allowed.
 */
import { ForbiddenError, UnauthorizedError, ValidationError } from "../errors";

export type Caller =
  | {
      readonly kind: "iam";
      /** The IAM principal (user or role ARN), for the audit trail. */
      readonly principal?: string;
      readonly sourceIp?: string;
    }
  | {
      readonly kind: "jwt";
      readonly claims: Readonly<Record<string, unknown>>;
      /** The claim naming the caller's org. */
      readonly orgClaim: string;
      readonly sourceIp?: string;
    }
  | { readonly kind: "local"; readonly sourceIp?: string }
  | {
      readonly kind: "worker";
      /** The worker task role's session: `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`. */
      readonly principal: string;
      readonly sourceIp?: string;
    };

/** Acts for exactly one org; for tests and trusted in-process callers. */
export const LOCAL_CALLER: Caller = { kind: "local" };

/**
 * The org a call acts for, given the org it names. `undefined` only when not required and the
 * caller is not bound to an org (IAM or local without an org).
 */
export function actingOrg(
  caller: Caller,
  requestedOrgId: string | undefined,
  required: boolean,
): string | undefined {
  if (caller.kind === "worker") {
    throw new ForbiddenError(
      "the worker task role may only launch and cancel an active run's child runs",
    );
  }
  if (caller.kind === "jwt") {
    const claim = caller.claims[caller.orgClaim];
    if (typeof claim !== "string" || claim === "") {
      throw new UnauthorizedError(`The access token carries no "${caller.orgClaim}" claim`);
    }
    if (requestedOrgId !== undefined && requestedOrgId !== claim) {
      throw new ForbiddenError(
        `org_id: "${requestedOrgId}" is not the organization of the access token`,
      );
    }
    return claim;
  }
  if (requestedOrgId === undefined && required) {
    throw new ValidationError(
      "org_id: required (in the JSON body or as the ?org_id= query parameter)",
      "org_id",
    );
  }
  return requestedOrgId;
}

/** `actingOrg` for calls that always need an org. */
export function requiredOrg(caller: Caller, requestedOrgId: string | undefined): string {
  return actingOrg(caller, requestedOrgId, true) as string;
}

/** Who to record as `triggered_by`: the principal or token subject, else the source address. */
export function callerDescription(caller: Caller): string | undefined {
  if ((caller.kind === "iam" || caller.kind === "worker") && caller.principal) {
    return caller.principal;
  }
  if (caller.kind === "jwt" && typeof caller.claims.sub === "string") {
    return `jwt:${caller.claims.sub}`;
  }
  return caller.sourceIp;
}
