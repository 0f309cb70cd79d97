/**
 * Request schemas of the HTTP API (one per wire format), strict so a misspelt field is a 400
 * naming it rather than a silent default. Launch fields themselves are validated by the
 * launcher's wire schema, so the API and the launch event accept exactly the same fields.
 */
// `zod/mini` as in lib/launcher/request.ts (the classic API keeps ~60 KB of unused code in the
// api Lambda). Namespace import: lets esbuild tree-shake it.
import { en } from "zod/locales";
import * as z from "zod/mini";
import { ValidationError } from "../errors";
import { RUN_STATUSES } from "../persistence/schema";
import { MAX_RUN_WAIT_SECONDS } from "../services/run-changes";

// Only when no locale is set (classic zod does the same), so an explicit choice wins.
if (!z.config().localeError) z.config(en());

/** Most requests one POST /runs/batch may carry. */
export const MAX_BATCH_REQUESTS = 100;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

/** Launch fields the API sets itself; a body may not carry them. */
export const API_OWNED_LAUNCH_FIELDS = ["trigger_source", "triggered_by"] as const;

/** Converts a zod failure to a 400 whose message names each field at fault. */
export function validationError(error: z.core.$ZodError, prefix = ""): ValidationError {
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

export function parseWith<S extends z.ZodMiniType>(
  schema: S,
  input: unknown,
  prefix = "",
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(result.error, prefix);
  return result.data;
}

const optionalText = (max: number) =>
  z
    .string({ error: "must be a string" })
    .check(z.maxLength(max, { error: `must be at most ${max} characters` }));

export const listRunsQuerySchema = z.strictObject({
  org_id: z.optional(z.string()),
  flow_name: z.optional(z.string()),
  parent_run_id: z.optional(z.string()),
  status: z.optional(z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(", ")}` })),
  limit: z.optional(
    z
      .pipe(
        z
          .string()
          .check(z.regex(/^\d+$/, { error: `must be an integer from 1 to ${MAX_PAGE_SIZE}` })),
        z.transform(Number),
      )
      .check(
        z.refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, {
          error: `must be an integer from 1 to ${MAX_PAGE_SIZE}`,
        }),
      ),
  ),
  next_token: z.optional(z.string()),
});

export const orgOnlyQuerySchema = z.strictObject({ org_id: z.optional(z.string()) });

/** `GET /runs/{id}`: `wait_seconds` (0-MAX_RUN_WAIT_SECONDS) waits for the run to end. */
export const getRunQuerySchema = z.strictObject({
  org_id: z.optional(z.string()),
  wait_seconds: z.optional(
    z
      .pipe(
        z.string().check(
          z.regex(/^\d{1,2}$/, {
            error: `must be an integer from 0 to ${MAX_RUN_WAIT_SECONDS}`,
          }),
        ),
        z.transform(Number),
      )
      .check(
        z.refine((n) => n <= MAX_RUN_WAIT_SECONDS, {
          error: `must be an integer from 0 to ${MAX_RUN_WAIT_SECONDS}`,
        }),
      ),
  ),
});

export const cancelBodySchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  reason: z.optional(optionalText(1024)),
});

export const rerunBodySchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  from: z.optional(z.enum(["start", "failure"], { error: 'must be "start" or "failure"' })),
});

/** The batch envelope; each entry of `requests` is then checked by the launch wire schema. */
export const batchBodySchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  environment: z.optional(z.string({ error: "must be a string" })),
  correlation_id: z.optional(z.string({ error: "must be a string" })),
  deployment_name: z.optional(z.string({ error: "must be a string" })),
  requests: z
    .array(z.record(z.string(), z.unknown(), { error: "must be a JSON object" }), {
      error: "must be an array of launch requests",
    })
    .check(
      z.minLength(1, { error: "must hold at least one launch request" }),
      z.maxLength(MAX_BATCH_REQUESTS, {
        error: `must hold at most ${MAX_BATCH_REQUESTS} launch requests per call`,
      }),
    ),
});

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
  time_zone: z.optional(
    z.string({ error: 'must be an IANA time zone name such as "Europe/Berlin"' }),
  ),
  enabled: z.optional(z.boolean({ error: "must be true or false" })),
  description: z.optional(optionalText(512)),
});

const sha256 = z.string({ error: "is required: the artifact's SHA-256 as 64 hex digits" });
const size = z.number({ error: "is required: the size in bytes" });

/** POST /flows/{flowName}/versions/uploads */
export const flowUploadSchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  version: z.string({ error: "is required and must be a string" }),
  sha256,
  size,
});

/** POST /flows/{flowName}/versions */
export const flowCommitSchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  version: z.string({ error: "is required and must be a string" }),
  upload_id: z.string({ error: "is required: the id an uploads call returned" }),
  description: z.optional(optionalText(512)),
});

/** POST /dep-packages/uploads */
export const packageUploadSchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  name: z.string({ error: "is required and must be a string" }),
  version: z.string({ error: "is required and must be a string" }),
  format: z.string({ error: 'is required: "zip" or "tar.gz"' }),
  sha256,
  size,
});

/** POST /dep-packages */
export const packageCommitSchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  name: z.string({ error: "is required and must be a string" }),
  version: z.string({ error: "is required and must be a string" }),
  format: z.string({ error: 'is required: "zip" or "tar.gz"' }),
  upload_id: z.string({ error: "is required: the id an uploads call returned" }),
  shared_with: z.optional(z.array(z.string(), { error: "must be a list of org ids" })),
});

/** PUT /deployments/{name} */
export const deploymentSchema = z.strictObject({
  org_id: z.optional(z.string({ error: "must be a string" })),
  environment: z.optional(z.string({ error: "must be a string" })),
  packages: z.array(z.string(), { error: "is required: a list of package names" }),
});

/** GET /runs/{runId}/logs */
export const logsQuerySchema = z.strictObject({
  org_id: z.optional(z.string()),
  position: z.optional(optionalText(4096)),
  task_id: z.optional(optionalText(256)),
});
