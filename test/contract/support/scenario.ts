/**
 * What every contract test file shares: the fixtures, the two forms over one synthesized stack
 * (registered with the `etl_pipeline` flow), and `onBothForms`, which runs a scenario on the
 * source form and on the bundle form and requires identical transcripts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Persistence } from "../../../lib/persistence/persistence";
import { registerFlow } from "../../api/harness";
import { deployedStack, type DeployedStack, type FunctionName } from "./deployed-stack";
import { normalize, startForm, type Form } from "./forms";

const FIXTURES = path.join(__dirname, "..", "fixtures");

/** A fixture, with `${NAME}` placeholders filled in. */
export function fixture(name: string, values: Record<string, string> = {}): unknown {
  let text = fs.readFileSync(path.join(FIXTURES, `${name}.json`), "utf8");
  for (const [key, value] of Object.entries(values)) text = text.split(`\${${key}}`).join(value);
  return JSON.parse(text) as unknown;
}

export interface Step {
  readonly fn: FunctionName;
  readonly result: unknown;
  /** AWS requests the step made, other than DynamoDB and S3 (which are checked through state). */
  readonly aws: readonly { operation: string; body: unknown }[];
}

export type StepFn = (
  fn: FunctionName,
  event: unknown,
  variant?: Record<string, string>,
) => Promise<Step>;

export interface Forms {
  /** The synthesized stack (available once the file's beforeAll ran). */
  stack(): DeployedStack;
  /** Runs `scenario` on both forms and checks they did exactly the same; returns the bundle's. */
  onBothForms(
    scenario: (form: Form, step: StepFn) => Promise<unknown>,
  ): Promise<{ bundle: unknown; form: Form }>;
}

/** Registers the file's beforeAll/afterAll: synthesis (or its cache), both forms, the flow. */
export function useForms(): Forms {
  let stack: DeployedStack | undefined;
  const forms: Partial<Record<"source" | "bundle", Form>> = {};

  beforeAll(async () => {
    stack = deployedStack();
    for (const kind of ["source", "bundle"] as const) {
      const form = await startForm(kind, stack);
      await registerFlow(
        new Persistence(form.data.clients.doc, form.data.tables),
        "acme-corp",
        "etl_pipeline",
        "1.0.0",
        form.data.buckets.artifacts,
      );
      forms[kind] = form;
    }
  }, 180_000);

  afterAll(async () => {
    for (const form of Object.values(forms)) await form?.close();
  });

  return {
    stack: () => {
      if (!stack) throw new Error("the stack is synthesized in beforeAll");
      return stack;
    },
    async onBothForms(scenario) {
      const transcripts: Record<string, unknown> = {};
      for (const kind of ["source", "bundle"] as const) {
        const form = forms[kind]!;
        form.reset();
        const step: StepFn = async (fn, event, variant) => {
          const before = form.aws.requests.length;
          const result = await form.invoke(fn, event, variant);
          // Concurrent calls (a batch) arrive in any order: compare them as a set.
          const key = (r: unknown): string => JSON.stringify(r).replace(/[0-9a-f-]{32,36}/g, "");
          const aws = form.aws.requests.slice(before).sort((a, b) => key(a).localeCompare(key(b)));
          return { fn, result, aws };
        };
        transcripts[kind] = normalize(form, await scenario(form, step));
      }
      expect(transcripts.bundle).toEqual(transcripts.source);
      return { bundle: transcripts.bundle, form: forms.bundle! };
    },
  };
}

export async function runOf(
  form: Form,
  runId: string,
): Promise<Record<string, unknown> | undefined> {
  return (await new Persistence(form.data.clients.doc, form.data.tables).runs.get(runId)) as
    Record<string, unknown> | undefined;
}

export type RunTaskBody = {
  taskDefinition: string;
  propagateTags?: string;
  overrides: {
    cpu?: string;
    memory?: string;
    containerOverrides: {
      name: string;
      cpu?: number;
      memory?: number;
      environment: { name: string; value: string }[];
    }[];
  };
};

export const envOf = (body: RunTaskBody): Record<string, string> =>
  Object.fromEntries(
    body.overrides.containerOverrides[0]!.environment.map((e) => [e.name, e.value]),
  );
