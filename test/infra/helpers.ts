/** Builds Dagy stacks for assertions: no bundling, stable asset hashes, cdk-nag on demand. */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { applyFeatureFlags } from "../../lib/infra/app";
import { parseStackConfig, stackNameFor, type StackConfigInput } from "../../lib/infra/config";
import { DagyStack } from "../../lib/infra/stack";

export interface BuiltStack {
  readonly app: App;
  readonly stack: DagyStack;
  readonly template: Template;
}

export function buildStack(input: StackConfigInput): BuiltStack {
  const app = new App({
    context: {
      // Skip esbuild: unit tests assert the template, not the bundles.
      "aws:cdk:bundling-stacks": [],
      "aws:cdk:version-reporting": false,
    },
  });
  applyFeatureFlags(app);
  const config = parseStackConfig(input);
  const stack = new DagyStack(app, stackNameFor(config), { config });
  return { app, stack, template: Template.fromStack(stack) };
}

export interface NagFinding {
  readonly rule: string;
  readonly path: string;
  readonly severity: string | undefined;
}

/** Unacknowledged AwsSolutions findings (errors and warnings alike). */
export function nagFindings(app: App): NagFinding[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => ({
      rule: violation.ruleName,
      path: resource.constructPath ?? resource.resourceLogicalId ?? "?",
      severity: violation.severity,
    })),
  );
}

const ASSET_HASH = /[0-9a-f]{64}/g;

/** The template with asset hashes (S3 keys, image tags) replaced, so snapshots are stable. */
export function normalizedTemplate(template: Template): unknown {
  return JSON.parse(JSON.stringify(template.toJSON()).replace(ASSET_HASH, "<asset-hash>"));
}

type CfnResource = { Type: string; Properties?: Record<string, unknown>; [key: string]: unknown };

/** The resource of `type` whose logical id starts with `prefix` (exactly one). */
export function resourceByIdPrefix(template: Template, type: string, prefix: string): CfnResource {
  const matches = Object.entries(template.findResources(type)).filter(([id]) =>
    id.startsWith(prefix),
  );
  if (matches.length !== 1) {
    throw new Error(
      `expected one ${type} with id ${prefix}*, found ${matches.map(([id]) => id).join(", ") || "none"}`,
    );
  }
  return matches[0]![1] as CfnResource;
}

/** Logical id of the only resource of `type` whose id starts with `prefix`. */
export function logicalIdByPrefix(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${ids.join(", ")}`);
  return ids[0]!;
}

export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/**
 * Statements of the policies attached to the role with logical id `roleId`: its default policy
 * and, when that outgrows IAM's inline size limit, the managed "overflow" policies CDK adds.
 */
export function statementsOfRole(template: Template, roleId: string): PolicyStatementJson[] {
  const policies = [
    ...Object.values(template.findResources("AWS::IAM::Policy")),
    ...Object.values(template.findResources("AWS::IAM::ManagedPolicy")),
  ].filter((p) =>
    ((p.Properties.Roles ?? []) as unknown[]).some(
      (r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId }),
    ),
  );
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement as PolicyStatementJson[]);
}

/** Every statement that grants `action`. */
export function statementsWith(
  statements: PolicyStatementJson[],
  action: string,
): PolicyStatementJson[] {
  return statements.filter((s) => ([] as string[]).concat(s.Action).includes(action));
}

/** The one statement that grants `action` (throws when there are none or several). */
export function statementWith(
  statements: PolicyStatementJson[],
  action: string,
): PolicyStatementJson {
  const found = statementsWith(statements, action);
  if (found.length !== 1)
    throw new Error(`expected one statement with ${action}, found ${found.length}`);
  return found[0]!;
}

/** All actions granted to a role, sorted. */
export function actionsOfRole(template: Template, roleId: string): string[] {
  return [
    ...new Set(
      statementsOfRole(template, roleId).flatMap((s) => ([] as string[]).concat(s.Action)),
    ),
  ].sort();
}
