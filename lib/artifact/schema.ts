import * as z from "zod";
import type { ArtifactMetadata, FlowSpec } from "../sdk/types";

/**
 * Schemas of the two JSON files in an artifact. Registration validates an uploaded artifact with
 * them before trusting its `flow_spec.json`; nothing here runs flow code. Unknown fields pass
 * through untouched, so an artifact from a newer `dagy build` that added a field still reads.
 */

const parameterType = z.enum(["string", "number", "integer", "boolean", "object", "array"]);
const nonNegative = z.number().finite().min(0);

const taskSchema = z.looseObject({
  id: z.string().min(1),
  task: z.string().min(1),
  upstream: z.array(z.string()),
  options: z.looseObject({
    retries: z.number().int().min(0),
    retry_delay_ms: nonNegative,
    backoff_factor: nonNegative,
    max_retry_delay_ms: nonNegative,
    timeout_ms: z.number().finite().positive().optional(),
  }),
  input: z.json().optional(),
});

export const flowSpecSchema = z
  .looseObject({
    spec_version: z.literal(1),
    name: z.string().min(1),
    version: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(
      z.string(),
      z.looseObject({
        type: parameterType.optional(),
        description: z.string().optional(),
        default: z.json().optional(),
        required: z.boolean(),
      }),
    ),
    max_parallelism: z.number().int().positive().optional(),
    tags: z.record(z.string(), z.string()).optional(),
    oom_policy: z.enum(["fail", "scale_up"]).optional(),
    tasks: z.array(taskSchema),
    edges: z.array(z.tuple([z.string(), z.string()])),
  })
  .superRefine((spec, ctx) => {
    const ids = new Set<string>();
    spec.tasks.forEach((task, index) => {
      if (ids.has(task.id)) {
        ctx.addIssue({
          code: "custom",
          path: ["tasks", index, "id"],
          message: `duplicate task id "${task.id}"`,
        });
      }
      ids.add(task.id);
    });
    spec.tasks.forEach((task, index) => {
      task.upstream.forEach((upstream, u) => {
        if (!ids.has(upstream)) {
          ctx.addIssue({
            code: "custom",
            path: ["tasks", index, "upstream", u],
            message: `unknown task id "${upstream}"`,
          });
        }
      });
    });
  });

export const artifactMetadataSchema = z.looseObject({
  name: z.string().min(1),
  version: z.string().min(1),
  built_at: z.string().min(1),
  sdk_version: z.string().min(1),
  bundle_sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits"),
  entry: z.string().min(1),
  source: z.string(),
});

// Compile-time proof that the schemas produce the shared wire types.
type Assignable<T, _U extends T> = true;
export type _SpecMatches = Assignable<FlowSpec, z.infer<typeof flowSpecSchema>>;
export type _MetadataMatches = Assignable<ArtifactMetadata, z.infer<typeof artifactMetadataSchema>>;

/** "tasks.0.options.retries: expected number, received string" — one line per issue. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}
