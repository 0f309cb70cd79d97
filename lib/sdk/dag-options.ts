import { DagDefinitionError } from "../errors";
import { VERSION_PATTERN } from "./options";
import { validateParameterDeclarations } from "./parameters";
import { isPlainObject } from "./plain-object";
import type { DagOptions } from "./types";

/** Checks the options of `dag(name, options, builder)`; the messages name the DAG and the option. */
export function validateDagOptions(name: string, options: unknown): DagOptions {
  if (options === undefined) return {};
  if (!isPlainObject(options)) {
    throw new DagDefinitionError(`DAG "${name}": options must be an object`);
  }
  const known = ["version", "description", "parameters", "maxParallelism", "tags", "oomPolicy"];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new DagDefinitionError(
        `DAG "${name}": unknown option ${JSON.stringify(key)}; allowed: ${known.join(", ")}`,
      );
    }
  }
  const o = options as DagOptions;
  if (
    o.version !== undefined &&
    (typeof o.version !== "string" || !VERSION_PATTERN.test(o.version))
  ) {
    throw new DagDefinitionError(
      `DAG "${name}": invalid version ${JSON.stringify(o.version)}; versions start with a letter ` +
        `or digit and contain only A-Z a-z 0-9 . _ + - (at most 128 characters)`,
    );
  }
  if (o.description !== undefined && typeof o.description !== "string") {
    throw new DagDefinitionError(`DAG "${name}": description must be a string`);
  }
  if (
    o.maxParallelism !== undefined &&
    (!Number.isInteger(o.maxParallelism) || o.maxParallelism < 1)
  ) {
    throw new DagDefinitionError(
      `DAG "${name}": maxParallelism must be an integer >= 1, got ${JSON.stringify(o.maxParallelism)}`,
    );
  }
  if (o.oomPolicy !== undefined && o.oomPolicy !== "fail" && o.oomPolicy !== "scale_up") {
    throw new DagDefinitionError(
      `DAG "${name}": oomPolicy must be "fail" or "scale_up", got ${JSON.stringify(o.oomPolicy)}`,
    );
  }
  if (o.tags !== undefined) {
    if (!isPlainObject(o.tags) || Object.values(o.tags).some((v) => typeof v !== "string")) {
      throw new DagDefinitionError(`DAG "${name}": tags must be an object of string values`);
    }
  }
  validateParameterDeclarations(name, o.parameters);
  return o;
}
