/** Shared by the warm-pool stack tests: the stacks they assert and template helpers. */
import type { Template } from "aws-cdk-lib/assertions";
import { buildStack, logicalIdByPrefix, resourceByIdPrefix, type BuiltStack } from "./helpers";

/** develop with two pools (small x2, medium x1). */
export const buildWarmStack = (): BuiltStack =>
  buildStack({
    environment: "develop",
    warmPool: [
      { profile: "small", size: 2 },
      { profile: "medium", size: 1 },
    ],
  });

export const ref = (id: string) => ({ Ref: id });
export const arnOf = (id: string) => ({ "Fn::GetAtt": [id, "Arn"] });
export const id = (template: Template, type: string, prefix: string) =>
  logicalIdByPrefix(template, type, prefix);
export const queueId = (template: Template, pool: string) =>
  id(template, "AWS::SQS::Queue", `WarmPools${pool}Queue`);
export const roleOf = (template: Template, name: string) =>
  id(template, "AWS::IAM::Role", `Functions${name}Role`);
/** The functions that launch, and so may dispatch to a pool. */
export const LAUNCHING = ["Api", "Launch"] as const;

/** A resolved Fn::Join with `{Ref: X}` written as `<X>`: what the Lambda sees, tokens named. */
export function joined(value: unknown): string {
  if (typeof value === "string") return value;
  const join = (value as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"];
  if (join) return join[1].map(joined).join(join[0]);
  const refId = (value as { Ref?: string }).Ref;
  if (refId !== undefined) return `<${refId}>`;
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}

export function envOf(template: Template, name: string): Record<string, unknown> {
  const fn = resourceByIdPrefix(template, "AWS::Lambda::Function", `Functions${name}Function`);
  return (fn.Properties!.Environment as { Variables: Record<string, unknown> }).Variables;
}
