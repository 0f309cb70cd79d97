/**
 * Launch request validation: one zod schema for the TypeScript API (camelCase) and one for the
 * wire format (snake_case: HTTP API bodies and `{"action":"launch", ...}` events). Both check
 * the same fields with the same rules and report problems by the caller's own field names.
 * Validation is pure: nothing is read or written.
 *
 * `zod/mini` (same validation engine as `zod`, functional API): the classic API's methods
 * (`.toJSONSchema()` and friends) keep ~60 KB of unused code in every bundle that launches,
 * including the api and launch Lambdas. English messages are registered as classic zod does.
 */
import { en } from "zod/locales";
import * as z from "zod/mini";
import { InvalidLaunchRequestError } from "../errors";
import { IDENTIFIER_RULES, type IdentifierKind } from "../persistence/validate";
import { envNameProblem, envTotalProblem, envValueProblem } from "../sdk/env-names";
import { TASK_ID_PATTERN } from "../sdk/options";
import { isJson } from "../sdk/parameters";
import type { Json } from "../sdk/types";
import {
  CAPACITY_PROVIDERS,
  checkResources,
  EPHEMERAL_STORAGE_MAX_GIB,
  EPHEMERAL_STORAGE_MIN_GIB,
  WORKLOAD_PROFILE_NAMES,
} from "./fargate";
import {
  MAX_RELAUNCHES_LIMIT,
  type CapacityProvider,
  type DagLaunchRequest,
  type WorkloadProfile,
} from "./types";
import { jsonWithoutControlCharacters, plainText } from "../validation/strings";

/** `<first>-<last>` item indexes of a child run of an isolated map. */
export const MAP_ITEMS_PATTERN = /^(0|[1-9][0-9]{0,8})-(0|[1-9][0-9]{0,8})$/;

// Only when no locale is set (classic zod does the same), so an explicit choice wins.
if (!z.config().localeError) z.config(en());

// One reserved list and one validator for environment names, shared with the executor.
export {
  ENV_NAME_PATTERN,
  RESERVED_ENV_GROUPS,
  isReservedEnvName,
  MAX_ENV_TOTAL_BYTES,
  MAX_ENV_VALUE_BYTES,
} from "../sdk/env-names";
/**
 * A Secrets Manager secret ARN, optionally with ECS's `:json-key:version-stage:version-id`
 * suffix (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html).
 */
export const SECRET_ARN_PATTERN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+(?::[A-Za-z0-9_.-]*:[A-Za-z0-9_-]*:[A-Za-z0-9-]*)?$/;

const MAX_TEXT = 256;
const MAX_TRIGGERED_BY = 2048;

/** Every request field: camelCase API name -> snake_case wire name. */
export const LAUNCH_FIELD_WIRE_NAMES = {
  flowName: "flow_name",
  orgId: "org_id",
  flowVersion: "flow_version",
  parameters: "parameters",
  environment: "environment",
  deploymentName: "deployment_name",
  correlationId: "correlation_id",
  triggerSource: "trigger_source",
  triggeredBy: "triggered_by",
  workloadProfile: "workload_profile",
  cpu: "cpu",
  memory: "memory",
  ephemeralStorageGib: "ephemeral_storage_gib",
  capacityProvider: "capacity_provider",
  maxRelaunches: "max_relaunches",
  oomPolicy: "oom_policy",
  extraEnvVars: "extra_env_vars",
  secretsEnv: "secrets_env",
  metadata: "metadata",
  idempotencyKey: "idempotency_key",
  parentRunId: "parent_run_id",
  mapTask: "map_task",
  mapItems: "map_items",
} as const satisfies Record<keyof DagLaunchRequest, string>;

type LaunchField = keyof typeof LAUNCH_FIELD_WIRE_NAMES;

function identifier(kind: IdentifierKind) {
  const rule = IDENTIFIER_RULES[kind];
  return z
    .string({ error: `must be a string of ${rule.description}` })
    .check(z.regex(rule.pattern, { error: `must be ${rule.description}` }));
}

const jsonObject = z
  .custom<Record<string, Json>>(
    (value) =>
      value !== null && typeof value === "object" && !Array.isArray(value) && isJson(value),
    { error: "must be a JSON object (finite numbers, strings, booleans, null, arrays, objects)" },
  )
  .check(jsonWithoutControlCharacters());

/** "2048" or 2048 (JSON bodies often carry numbers); normalised to the string ECS takes. */
const sizeValue = z.pipe(
  z.union([z.string(), z.number()], { error: "must be a number or numeric string" }),
  z.transform((v: string | number) => String(v)),
);

function envName(kind: string) {
  return z.string().check(
    z.superRefine((name: string, ctx) => {
      const problem = envNameProblem(name);
      if (problem !== undefined) {
        ctx.addIssue({ code: "custom", message: `${kind} ${problem}`, input: name });
      }
    }),
  );
}

const extraEnvVars = z
  .record(
    envName("extra env var"),
    z.string({ error: "extra env var values must be strings" }).check(
      z.superRefine((value: string, ctx) => {
        const problem = envValueProblem(value);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: value });
      }),
    ),
  )
  .check(
    z.superRefine((vars, ctx) => {
      const problem = envTotalProblem(vars);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: vars });
    }),
  );

const secretsEnv = z.record(
  envName("secret env"),
  z.string().check(
    z.regex(SECRET_ARN_PATTERN, {
      error:
        "must be a Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>",
    }),
  ),
);

/** One validator per field, shared by both schemas. */
const FIELD_SCHEMAS = {
  flowName: identifier("flowName"),
  orgId: identifier("orgId"),
  flowVersion: z.optional(z.union([z.literal("latest"), identifier("flowVersion")])),
  parameters: z.optional(jsonObject),
  // "" is the guide's default (no environment).
  environment: z.optional(z.union([z.literal(""), identifier("environment")])),
  deploymentName: z.optional(z.union([z.literal(""), identifier("deploymentName")])),
  correlationId: z.optional(plainText(MAX_TEXT)),
  triggerSource: z.optional(plainText(64)),
  triggeredBy: z.optional(plainText(MAX_TRIGGERED_BY)),
  workloadProfile: z.optional(
    z.enum(WORKLOAD_PROFILE_NAMES as [WorkloadProfile, ...WorkloadProfile[]], {
      error: `must be one of ${WORKLOAD_PROFILE_NAMES.join(", ")}`,
    }),
  ),
  cpu: z.optional(sizeValue),
  memory: z.optional(sizeValue),
  ephemeralStorageGib: z.optional(
    z.int({ error: "must be an integer" }).check(
      z.gte(EPHEMERAL_STORAGE_MIN_GIB, {
        error: `must be from ${EPHEMERAL_STORAGE_MIN_GIB} to ${EPHEMERAL_STORAGE_MAX_GIB} (GiB)`,
      }),
      z.lte(EPHEMERAL_STORAGE_MAX_GIB, {
        error: `must be from ${EPHEMERAL_STORAGE_MIN_GIB} to ${EPHEMERAL_STORAGE_MAX_GIB} (GiB)`,
      }),
    ),
  ),
  capacityProvider: z.optional(
    z.enum(CAPACITY_PROVIDERS as [CapacityProvider, ...CapacityProvider[]], {
      error: `must be one of ${CAPACITY_PROVIDERS.join(", ")}`,
    }),
  ),
  maxRelaunches: z.optional(
    z
      .int({ error: "must be an integer" })
      .check(
        z.gte(0, { error: "must be at least 0" }),
        z.lte(MAX_RELAUNCHES_LIMIT, { error: `must be at most ${MAX_RELAUNCHES_LIMIT}` }),
      ),
  ),
  oomPolicy: z.optional(z.enum(["fail", "scale_up"], { error: 'must be "fail" or "scale_up"' })),
  extraEnvVars: z.optional(extraEnvVars),
  secretsEnv: z.optional(secretsEnv),
  metadata: z.optional(jsonObject),
  idempotencyKey: z.optional(identifier("idempotencyKey")),
  parentRunId: z.optional(identifier("runId")),
  mapTask: z.optional(
    z
      .string()
      .check(z.regex(TASK_ID_PATTERN, { error: "must be a task id (1-128 of A-Z a-z 0-9 _ . -)" })),
  ),
  mapItems: z.optional(
    z.string().check(
      z.regex(MAP_ITEMS_PATTERN, { error: "must be <first>-<last>, e.g. 0-99" }),
      z.refine((v) => Number(v.split("-")[0]) <= Number(v.split("-")[1]), {
        error: "must be <first>-<last> with first <= last",
      }),
    ),
  ),
} satisfies Record<LaunchField, z.ZodMiniType>;

type Naming = (field: LaunchField) => string;

/** Checks that involve several fields; runs after every field parsed. */
function crossCheck(
  request: DagLaunchRequest,
  ctx: z.core.$RefinementCtx<unknown>,
  name: Naming,
): void {
  // Field-level rules (profile names, storage range) already ran; only the combinations remain.
  const combined = checkResources(request).filter((p) => p.field === "cpu" || p.field === "memory");
  for (const problem of combined) {
    ctx.addIssue({ code: "custom", path: [name(problem.field)], message: problem.message });
  }
  // A child's task and items only mean something under a parent, and go together.
  const mapFields = [request.mapTask, request.mapItems].filter((v) => v !== undefined).length;
  if (mapFields === 1 || (mapFields === 2 && request.parentRunId === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [name(request.mapTask === undefined ? "mapTask" : "mapItems")],
      message: `${name("mapTask")} and ${name("mapItems")} go together, with ${name("parentRunId")}`,
    });
  }
  const secretNames = Object.keys(request.secretsEnv ?? {});
  for (const envVar of Object.keys(request.extraEnvVars ?? {})) {
    if (secretNames.includes(envVar)) {
      ctx.addIssue({
        code: "custom",
        path: [name("extraEnvVars"), envVar],
        message: `is also a secret in ${name("secretsEnv")}; a variable comes from one place only`,
      });
    }
  }
}

/** The TypeScript API's request (camelCase). Unknown fields are refused, catching typos. */
export const launchRequestSchema = z
  .strictObject(FIELD_SCHEMAS)
  .check(z.superRefine((request, ctx) => crossCheck(request, ctx, (f) => f)));

const WIRE_SHAPE = Object.fromEntries(
  Object.entries(FIELD_SCHEMAS).map(([field, schema]) => [
    LAUNCH_FIELD_WIRE_NAMES[field as LaunchField],
    schema,
  ]),
) as { [F in LaunchField as (typeof LAUNCH_FIELD_WIRE_NAMES)[F]]: (typeof FIELD_SCHEMAS)[F] };

function wireToApi(wire: Record<string, unknown>): DagLaunchRequest {
  const out: Record<string, unknown> = {};
  for (const [field, wireName] of Object.entries(LAUNCH_FIELD_WIRE_NAMES)) {
    if (wire[wireName] !== undefined) out[field] = wire[wireName];
  }
  return out as unknown as DagLaunchRequest;
}

/**
 * The wire request (snake_case): HTTP API bodies and launch events. `.strict()`: unknown
 * fields are refused so a misspelt `workload_profle` is an error, not a silent default.
 */
export const launchRequestWireSchema = z
  .strictObject(WIRE_SHAPE)
  .check(
    z.superRefine((wire, ctx) =>
      crossCheck(wireToApi(wire), ctx, (f) => LAUNCH_FIELD_WIRE_NAMES[f]),
    ),
  );

export type LaunchRequestWire = z.input<typeof launchRequestWireSchema>;

/** The wire request with `org_id` optional: at the API the caller's identity decides the org. */
const launchInputWireSchema = z
  .strictObject({ ...WIRE_SHAPE, org_id: z.optional(FIELD_SCHEMAS.orgId) })
  .check(
    z.superRefine((wire, ctx) =>
      crossCheck(wireToApi(wire), ctx, (f) => LAUNCH_FIELD_WIRE_NAMES[f]),
    ),
  );

function toError(error: z.core.$ZodError): InvalidLaunchRequestError {
  const problems = error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const path = issue.path.map(String).join(".");
      const prefix = path ? `${path}.` : "";
      return {
        field: `${prefix}${issue.keys[0] ?? ""}`,
        text: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `${prefix}${k}`).join(", ")}`,
      };
    }
    const field = issue.path.map(String).join(".");
    // A bad record key carries its reason one level down.
    const message =
      issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    return { field, text: field ? `${field}: ${message}` : message };
  });
  return new InvalidLaunchRequestError(
    `invalid launch request: ${problems.map((p) => p.text).join("; ")}`,
    problems[0]?.field,
  );
}

/** Validates a TypeScript API request. Throws InvalidLaunchRequestError naming every bad field. */
export function parseLaunchRequest(input: unknown): DagLaunchRequest {
  const result = launchRequestSchema.safeParse(input);
  if (!result.success) throw toError(result.error);
  return stripUndefined(result.data);
}

/** Validates a wire request and maps it to the TypeScript request. */
export function fromWire(input: unknown): DagLaunchRequest {
  const result = launchRequestWireSchema.safeParse(input);
  if (!result.success) throw toError(result.error);
  return stripUndefined(wireToApi(result.data));
}

/** Validates a wire request whose org may be absent (`org_id` optional). */
export function fromWireInput(
  input: unknown,
): Omit<DagLaunchRequest, "orgId"> & { orgId?: string } {
  const result = launchInputWireSchema.safeParse(input);
  if (!result.success) throw toError(result.error);
  return stripUndefined(wireToApi(result.data));
}

/** The wire (snake_case) form of a request, e.g. for a schedule's event input. */
export function toWire(request: DagLaunchRequest): LaunchRequestWire {
  const out: Record<string, unknown> = {};
  for (const [field, wireName] of Object.entries(LAUNCH_FIELD_WIRE_NAMES)) {
    const value = request[field as LaunchField];
    if (value !== undefined) out[wireName] = value;
  }
  return out as LaunchRequestWire;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
