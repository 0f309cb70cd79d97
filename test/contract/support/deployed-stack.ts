/**
 * The deployed form: the stack synthesized WITH bundling (local esbuild, no Docker), exactly as
 * `cdk deploy` would upload it. Each Lambda's asset directory holds the minified `index.js`
 * AWS runs; the template holds each function's environment and each schedule's target input.
 *
 * Synthesis takes a while, so its output is cached in the OS temp directory under a hash of
 * every input that shapes it (lambda/, lib/, lock file, tsconfig, this file): the first run of
 * the suite synthesizes, later runs with unchanged sources reuse it.
 */
import { App } from "aws-cdk-lib";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { applyFeatureFlags } from "../../../lib/infra/app";
import { parseStackConfig, stackNameFor, type StackConfigInput } from "../../../lib/infra/config";
import { DagyStack } from "../../../lib/infra/stack";

const ROOT = path.resolve(__dirname, "../../..");

/**
 * The stack the contract tests deploy: develop, with one schedule of each kind and a warm pool
 * of the default profile (issue #14), so `api` and `launch` dispatch warm when the pool table
 * counts an idle worker and the `warm-fallback` function exists. Each test's pool table starts
 * empty: a launch that does not set an idle worker first exercises "pool exhausted -> cold".
 * One synthesis serves both: the warm pool adds one bundle (measured: 6.3 s for this stack
 * against 9.7 s without the pool, the first synthesis in a process paying the module loading).
 */
export const CONTRACT_STACK_CONFIG: StackConfigInput = {
  environment: "develop",
  warmPool: [{ profile: "small", size: 1 }],
  schedules: [
    {
      name: "etl-daily",
      flowName: "etl_pipeline",
      orgId: "acme-corp",
      expression: "cron(0 9 * * ? *)",
      parameters: { date: "2024-03-14" },
    },
    {
      name: "etl-berlin",
      flowName: "etl_pipeline",
      orgId: "acme-corp",
      expression: "cron(0 7 ? * MON-FRI *)",
      timeZone: "Europe/Berlin",
      parameters: { date: "2024-03-14" },
    },
  ],
};

export const FUNCTIONS = [
  "api",
  "registration",
  "launch",
  "task-events",
  "reconcile",
  "warm-fallback",
] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

const LOGICAL_PREFIX: Record<FunctionName, string> = {
  api: "FunctionsApi",
  registration: "FunctionsRegistration",
  launch: "FunctionsLaunch",
  "task-events": "FunctionsTaskEvents",
  reconcile: "FunctionsReconcile",
  "warm-fallback": "FunctionsWarmFallback",
};

export type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
};
export interface Template {
  readonly Resources: Record<string, Resource>;
}

export interface DeployedFunction {
  /** The asset's `index.js`, as uploaded. */
  readonly bundle: string;
  readonly handler: string;
  /** The environment as synthesized: literal values, or `null` where CloudFormation resolves a reference. */
  readonly environment: Readonly<Record<string, string | null>>;
  /** The intrinsic (Ref, Fn::Join, ...) of each `null` variable, as synthesized. */
  readonly references: Readonly<Record<string, unknown>>;
}

export interface DeployedStack {
  readonly outdir: string;
  readonly template: Template;
  readonly functions: Readonly<Record<FunctionName, DeployedFunction>>;
}

function hashInputs(): string {
  const hash = createHash("sha256");
  const walk = (dir: string): void => {
    for (const entry of fs
      .readdirSync(dir, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts")) hash.update(full).update(fs.readFileSync(full));
    }
  };
  walk(path.join(ROOT, "lambda"));
  walk(path.join(ROOT, "lib"));
  for (const file of ["package-lock.json", "tsconfig.json"]) {
    hash.update(fs.readFileSync(path.join(ROOT, file)));
  }
  hash.update(fs.readFileSync(__filename));
  return hash.digest("hex").slice(0, 16);
}

function synthesize(outdir: string): void {
  const app = new App({
    outdir,
    // The CLI sets this; it records each asset's directory on its resource (aws:asset:path).
    context: { "aws:cdk:version-reporting": false, "aws:cdk:enable-asset-metadata": true },
  });
  applyFeatureFlags(app);
  const config = parseStackConfig(CONTRACT_STACK_CONFIG);
  new DagyStack(app, stackNameFor(config), { config });
  app.synth();
}

/** Synthesizes (or reuses) the bundled stack and reads what a deploy would upload. */
export function deployedStack(): DeployedStack {
  const outdir = path.join(os.tmpdir(), `dagy-contract-cdk-out-${hashInputs()}`);
  const done = path.join(outdir, ".dagy-complete");
  if (!fs.existsSync(done)) {
    fs.rmSync(outdir, { recursive: true, force: true });
    synthesize(outdir);
    fs.writeFileSync(done, new Date().toISOString());
  }
  const stackName = stackNameFor(parseStackConfig(CONTRACT_STACK_CONFIG));
  const template = JSON.parse(
    fs.readFileSync(path.join(outdir, `${stackName}.template.json`), "utf8"),
  ) as Template;
  const functions = Object.fromEntries(
    FUNCTIONS.map((name) => {
      const matches = Object.entries(template.Resources).filter(
        ([id, r]) => r.Type === "AWS::Lambda::Function" && id.startsWith(LOGICAL_PREFIX[name]),
      );
      if (matches.length !== 1) throw new Error(`expected one function ${LOGICAL_PREFIX[name]}*`);
      const [, resource] = matches[0]!;
      const assetPath = resource.Metadata?.["aws:asset:path"];
      if (typeof assetPath !== "string") throw new Error(`${name}: no asset path in the template`);
      const props = resource.Properties ?? {};
      const variables =
        (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      return [
        name,
        {
          bundle: path.join(outdir, assetPath, "index.js"),
          handler: String(props.Handler),
          environment: Object.fromEntries(
            Object.entries(variables).map(([k, v]) => [k, typeof v === "string" ? v : null]),
          ),
          references: Object.fromEntries(
            Object.entries(variables).filter(([, v]) => typeof v !== "string"),
          ),
        },
      ];
    }),
  ) as Record<FunctionName, DeployedFunction>;
  return { outdir, template, functions };
}

/** The launch event a config schedule's rule delivers, for the documented Scheduled Event. */
export function ruleTargetInput(template: Template, ruleName: string, event: unknown): unknown {
  const rule = Object.values(template.Resources).find(
    (r) => r.Type === "AWS::Events::Rule" && r.Properties?.Name === ruleName,
  );
  const target = (rule?.Properties?.Targets as Record<string, unknown>[] | undefined)?.[0];
  if (!target) throw new Error(`no rule ${ruleName} with a target in the template`);
  if (typeof target.Input === "string") return JSON.parse(target.Input);
  const transformer = target.InputTransformer as
    { InputPathsMap?: Record<string, string>; InputTemplate: string } | undefined;
  if (!transformer) return event; // no input configured: the event itself
  let text = transformer.InputTemplate;
  for (const [key, jsonPath] of Object.entries(transformer.InputPathsMap ?? {})) {
    const value = jsonPath
      .replace(/^\$\./, "")
      .split(".")
      .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], event);
    // EventBridge substitutes strings inside quotes in the template as raw text.
    text = text.split(`<${key}>`).join(String(value));
  }
  return JSON.parse(text);
}

/** The input a Scheduler schedule delivers, with its context attributes filled in. */
export function scheduleTargetInput(
  template: Template,
  scheduleName: string,
  context: Readonly<Record<string, string>>,
): unknown {
  const schedule = Object.values(template.Resources).find(
    (r) => r.Type === "AWS::Scheduler::Schedule" && r.Properties?.Name === scheduleName,
  );
  const input = (schedule?.Properties?.Target as { Input?: string } | undefined)?.Input;
  if (typeof input !== "string") throw new Error(`no schedule ${scheduleName} with an input`);
  let text = input;
  for (const [key, value] of Object.entries(context)) text = text.split(`<${key}>`).join(value);
  return JSON.parse(text);
}

/**
 * Resolves an intrinsic of the template made of literals, `Fn::Join` and `Ref`s that `ref`
 * answers (a logical id and its resource); undefined when any part is something else.
 */
export function resolveIntrinsic(
  template: Template,
  value: unknown,
  ref: (logicalId: string, resource: Resource) => string | undefined,
): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value !== "object" || value === null) return undefined;
  const node = value as Record<string, unknown>;
  if (typeof node.Ref === "string") {
    const resource = template.Resources[node.Ref];
    return resource ? ref(node.Ref, resource) : undefined;
  }
  const join = node["Fn::Join"];
  if (Array.isArray(join) && typeof join[0] === "string" && Array.isArray(join[1])) {
    const parts = (join[1] as unknown[]).map((part) => resolveIntrinsic(template, part, ref));
    return parts.every((p) => p !== undefined) ? parts.join(join[0]) : undefined;
  }
  return undefined;
}
