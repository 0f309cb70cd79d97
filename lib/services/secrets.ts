/**
 * Which Secrets Manager secrets a launch may ask ECS to inject. Checked when the launch (or
 * schedule) is requested, with a 400 naming the variable and the ARN, rather than discovered
 * when ECS fails to start the task:
 * - every ARN must match one of the stack's allowed patterns (the same patterns the execution
 *   role may read: config `secretArnPatterns`, default `secret:<appName>/*`);
 * - a caller bound to an org (JWT) may name only its own org's secrets:
 *   `secret:<appName>/<org_id>/*`. IAM callers are trusted across orgs, as for runs.
 */
import { ValidationError } from "../errors";
import type { Caller } from "./caller";

export interface SecretPolicy {
  /** ARN patterns (`*` matches any run of characters). Empty: any well-formed ARN. */
  readonly arnPatterns: readonly string[];
  /** `<appName>/`: a JWT caller's secrets must be named `<prefix><org_id>/...`. */
  readonly namePrefix?: string;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

/** The secret's name: what follows `:secret:` in its ARN (with ECS's optional suffixes). */
function secretName(arn: string): string {
  const at = arn.indexOf(":secret:");
  return at < 0 ? "" : arn.slice(at + ":secret:".length);
}

export function checkSecretArns(
  secretsEnv: Readonly<Record<string, string>> | undefined,
  policy: SecretPolicy,
  caller: Caller,
  orgId: string,
): void {
  if (!secretsEnv) return;
  const allowed = policy.arnPatterns.map(globToRegExp);
  for (const [variable, arn] of Object.entries(secretsEnv)) {
    const field = `secrets_env.${variable}`;
    if (allowed.length > 0 && !allowed.some((re) => re.test(arn))) {
      throw new ValidationError(
        `${field}: ${arn} is outside the secrets this deployment may read (${policy.arnPatterns.join(", ")})`,
        field,
      );
    }
    if (caller.kind === "jwt" && policy.namePrefix !== undefined) {
      const own = `${policy.namePrefix}${orgId}/`;
      if (!secretName(arn).startsWith(own)) {
        throw new ValidationError(
          `${field}: ${arn} is not a secret of organization ${orgId} (its name must start with ${own})`,
          field,
        );
      }
    }
  }
}
