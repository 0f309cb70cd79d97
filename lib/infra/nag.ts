/**
 * cdk-nag acknowledgements with their reasons. cdk-nag 3 reads CDK's `Validations` metadata;
 * a wildcard finding is acknowledged one by one as `AwsSolutions-IAM5[Resource::<arn>]`, where
 * `<arn>` is the resource flattened the way cdk-nag prints it (`<LogicalId.Arn>/prefix/*`).
 */
import { Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

export interface WildcardAcknowledgement {
  /** An ARN (token or literal) as it appears in the policy statement. */
  readonly resource?: string;
  /** A wildcard action, e.g. `s3:GetObject*`. */
  readonly action?: string;
  readonly reason: string;
}

/** Acknowledges AwsSolutions-IAM5 findings on `scope` (a role or policy), each with its reason. */
export function acknowledgeWildcards(
  scope: IConstruct,
  findings: readonly WildcardAcknowledgement[],
): void {
  const stack = Stack.of(scope);
  for (const finding of findings) {
    if (finding.resource !== undefined) {
      const flat = flattenForNag(stack.resolve(finding.resource));
      Validations.of(scope).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${flat}]`,
        reason: finding.reason,
      });
    }
    if (finding.action !== undefined) {
      Validations.of(scope).acknowledge({
        id: `AwsSolutions-IAM5[Action::${finding.action}]`,
        reason: finding.reason,
      });
    }
  }
}

/** Acknowledges one rule on `scope` with its reason. */
export function acknowledgeRule(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** Mirrors cdk-nag's flattening of CloudFormation references. */
function flattenForNag(node: unknown): string {
  if (node === undefined) return "";
  if (typeof node === "string") return node.replace(/\$\{/g, "<").replace(/\}/g, ">");
  if (typeof node === "object" && node !== null) {
    const record = node as Record<string, unknown>;
    if (Array.isArray(record["Fn::Join"])) {
      const [delimiter, items] = record["Fn::Join"] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if ("Fn::Sub" in record) return flattenForNag(record["Fn::Sub"]);
    if (Array.isArray(record["Fn::GetAtt"])) {
      const [resource, attribute] = record["Fn::GetAtt"] as [unknown, unknown];
      return `<${flattenForNag(resource)}.${flattenForNag(attribute)}>`;
    }
    if ("Fn::ImportValue" in record) return flattenForNag(record["Fn::ImportValue"]);
    if ("Ref" in record) return `<${flattenForNag(record.Ref)}>`;
  }
  return JSON.stringify(node);
}
