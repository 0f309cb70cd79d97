import { DagDefinitionError, ValidationError } from "../errors";
import { PARAMETER_NAME_PATTERN } from "./options";
import { isPlainObject } from "./plain-object";
import type { FlowSpec, Json, ParameterDeclaration, ParameterType } from "./types";

export const PARAMETER_TYPES: readonly ParameterType[] = [
  "string",
  "number",
  "integer",
  "boolean",
  "object",
  "array",
];

type Declarations = Readonly<Record<string, ParameterDeclaration>>;

/** Something with parameter declarations: a `flow_spec.json` or a `Dag` (duck-typed). */
export type ParameterSource =
  Pick<FlowSpec, "parameters"> | { readonly options: { readonly parameters?: Declarations } };

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}

/** `undefined` when `value` has the declared type, else what it is instead. */
export function typeMismatch(type: ParameterType, value: unknown): string | undefined {
  let ok: boolean;
  switch (type) {
    case "string":
      ok = typeof value === "string";
      break;
    case "number":
      ok = typeof value === "number" && Number.isFinite(value);
      break;
    case "integer":
      ok = typeof value === "number" && Number.isInteger(value);
      break;
    case "boolean":
      ok = typeof value === "boolean";
      break;
    case "object":
      ok = isPlainObject(value);
      break;
    case "array":
      ok = Array.isArray(value);
      break;
  }
  if (ok) return undefined;
  return typeof value === "number" && type === "integer" ? `non-integer ${value}` : describe(value);
}

/** Checks declarations when a DAG is defined, so bad ones fail `dagy build`, not a run. */
export function validateParameterDeclarations(
  dagName: string,
  declarations: unknown,
): Declarations | undefined {
  if (declarations === undefined) return undefined;
  if (!isPlainObject(declarations)) {
    throw new DagDefinitionError(`DAG "${dagName}": options.parameters must be an object`);
  }
  for (const [name, declaration] of Object.entries(declarations)) {
    const where = `DAG "${dagName}": parameter "${name}"`;
    if (!PARAMETER_NAME_PATTERN.test(name)) {
      throw new DagDefinitionError(
        `${where}: invalid name; parameter names start with a letter or _ and contain only ` +
          `A-Z a-z 0-9 _ (at most 128 characters)`,
      );
    }
    if (!isPlainObject(declaration)) {
      throw new DagDefinitionError(`${where}: the declaration must be an object`);
    }
    const known = ["type", "description", "default", "required"];
    for (const key of Object.keys(declaration)) {
      if (!known.includes(key)) {
        throw new DagDefinitionError(
          `${where}: unknown field ${JSON.stringify(key)}; allowed: ${known.join(", ")}`,
        );
      }
    }
    const { type, description, required } = declaration as ParameterDeclaration;
    if (type !== undefined && !PARAMETER_TYPES.includes(type)) {
      throw new DagDefinitionError(
        `${where}: type must be one of ${PARAMETER_TYPES.join(", ")}, got ${JSON.stringify(type)}`,
      );
    }
    if (description !== undefined && typeof description !== "string") {
      throw new DagDefinitionError(`${where}: description must be a string`);
    }
    if (required !== undefined && typeof required !== "boolean") {
      throw new DagDefinitionError(`${where}: required must be a boolean`);
    }
    if ("default" in declaration && declaration.default !== undefined) {
      const value = declaration.default;
      if (!isJson(value)) {
        throw new DagDefinitionError(`${where}: the default must be a JSON value`);
      }
      const mismatch = type === undefined ? undefined : typeMismatch(type, value);
      if (mismatch !== undefined) {
        throw new DagDefinitionError(
          `${where}: the default must be of type ${type}, got ${mismatch}`,
        );
      }
    }
  }
  return declarations as Declarations;
}

/** True for values that survive a JSON round trip unchanged (no NaN, functions, class objects). */
export function isJson(value: unknown, depth = 0): value is Json {
  if (depth > 100) return false;
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (isPlainObject(value)) return Object.values(value).every((v) => isJson(v, depth + 1));
  return false;
}

function declarationsOf(source: ParameterSource): Record<string, ParameterDeclaration> {
  if ("spec_version" in source || !("options" in source)) {
    return (source as Pick<FlowSpec, "parameters">).parameters;
  }
  return source.options.parameters ?? {};
}

/**
 * Applies defaults and checks the given parameters against the declarations.
 *
 * - A declared parameter that is absent takes its default (a copy); without a default it is
 *   required unless declared `required: false`.
 * - Declared types are enforced; `integer` means a whole number.
 * - Parameters that are not declared are passed through unchanged: a launcher may attach
 *   environment-wide values (buckets, prefixes) that only some flows use.
 *
 * Throws `ValidationError` (field `parameters.<name>`) naming the parameter and what is allowed.
 */
export function resolveParameters(
  source: ParameterSource,
  given: Record<string, Json>,
): Record<string, Json> {
  if (!isPlainObject(given)) {
    throw new ValidationError("parameters must be a JSON object", "parameters");
  }
  const declarations = declarationsOf(source);
  const resolved: Record<string, Json> = {};
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!isJson(value)) {
      throw new ValidationError(
        `parameter "${name}" must be a JSON value (finite numbers, strings, booleans, null, ` +
          `arrays, plain objects)`,
        `parameters.${name}`,
      );
    }
    resolved[name] = value;
  }
  for (const [name, declaration] of Object.entries(declarations)) {
    if (!Object.prototype.hasOwnProperty.call(resolved, name)) {
      if (declaration.default !== undefined) {
        resolved[name] = structuredClone(declaration.default);
        continue;
      }
      const required = declaration.required ?? true;
      if (required) {
        const about = declaration.description ? ` (${declaration.description})` : "";
        const type = declaration.type ? ` of type ${declaration.type}` : "";
        throw new ValidationError(
          `missing required parameter "${name}"${type}${about}`,
          `parameters.${name}`,
        );
      }
      continue;
    }
    if (declaration.type !== undefined) {
      const mismatch = typeMismatch(declaration.type, resolved[name]);
      if (mismatch !== undefined) {
        throw new ValidationError(
          `parameter "${name}" must be of type ${declaration.type}, got ${mismatch}`,
          `parameters.${name}`,
        );
      }
    }
  }
  return resolved;
}
