/**
 * Request schemas of the HTTP API (one per wire format), strict so a misspelt field is a 400
 * naming it rather than a silent default. Launch fields themselves are validated by the
 * launcher's wire schema, so the API and the launch event accept exactly the same fields.
 */
// Namespace import: lets esbuild tree-shake zod (a named `z` import bundles all of it).
import * as z from "zod";
import { ValidationError } from "../errors";
import { RUN_STATUSES } from "../persistence/schema";

/** Most requests one POST /runs/batch may carry. */
export const MAX_BATCH_REQUESTS = 100;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

/** Launch fields the API sets itself; a body may not carry them. */
export const API_OWNED_LAUNCH_FIELDS = ["trigger_source", "triggered_by"] as const;

/** Converts a zod failure to a 400 whose message names each field at fault. */
export function validationError(error: z.ZodError, prefix = ""): ValidationError {
  const problems = error.issues.map((issue) => {
    const path = issue.path.map(String);
    const field = [prefix, ...path].filter((p) => p !== "").join(".");
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.map((k) => (field ? `${field}.${k}` : k));
      return {
        field: keys[0] ?? field,
        text: `unknown field${keys.length > 1 ? "s" : ""} ${keys.join(", ")}`,
      };
    }
    return { field, text: field ? `${field}: ${issue.message}` : issue.message };
  });
  return new ValidationError(problems.map((p) => p.text).join("; "), problems[0]?.field);
}

export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  prefix = "",
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(result.error, prefix);
  return result.data;
}

const optionalText = (max: number) =>
  z.string({ error: "must be a string" }).max(max, { error: `must be at most ${max} characters` });

export const listRunsQuerySchema = z
  .object({
    org_id: z.string().optional(),
    flow_name: z.string().optional(),
    status: z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(", ")}` }).optional(),
    limit: z
      .string()
      .regex(/^\d+$/, { error: `must be an integer from 1 to ${MAX_PAGE_SIZE}` })
      .transform(Number)
      .refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, {
        error: `must be an integer from 1 to ${MAX_PAGE_SIZE}`,
      })
      .optional(),
    next_token: z.string().optional(),
  })
  .strict();

export const orgOnlyQuerySchema = z.object({ org_id: z.string().optional() }).strict();

export const cancelBodySchema = z
  .object({
    org_id: z.string({ error: "must be a string" }).optional(),
    reason: optionalText(1024).optional(),
  })
  .strict();

/** The batch envelope; each entry of `requests` is then checked by the launch wire schema. */
export const batchBodySchema = z
  .object({
    org_id: z.string({ error: "must be a string" }).optional(),
    environment: z.string({ error: "must be a string" }).optional(),
    correlation_id: z.string({ error: "must be a string" }).optional(),
    deployment_name: z.string({ error: "must be a string" }).optional(),
    requests: z
      .array(z.record(z.string(), z.unknown(), { error: "must be a JSON object" }), {
        error: "must be an array of launch requests",
      })
      .min(1, { error: "must hold at least one launch request" })
      .max(MAX_BATCH_REQUESTS, {
        error: `must hold at most ${MAX_BATCH_REQUESTS} launch requests per call`,
      }),
  })
  .strict();

/** POST /schedules: schedule fields; the remaining (launch) fields are checked by the launcher's schema. */
export const SCHEDULE_FIELDS = [
  "name",
  "expression",
  "time_zone",
  "enabled",
  "description",
] as const;

export const scheduleFieldsSchema = z.object({
  name: z.string({ error: "is required and must be a string" }),
  expression: z.string({
    error: 'is required and must be a string such as "cron(0 9 * * ? *)" or "rate(1 hour)"',
  }),
  time_zone: z
    .string({ error: 'must be an IANA time zone name such as "Europe/Berlin"' })
    .optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  description: optionalText(512).optional(),
});
