import { readFile } from "node:fs/promises";
import * as path from "node:path";
import type { FlowSpec, Json } from "../sdk/types";
import { UsageError } from "./io";

/**
 * Value of one `--param key=value`. A parameter declared `type: "string"` takes the text as is
 * (so `--param id=007` stays "007"); otherwise text that parses as JSON is used as JSON
 * (`3`, `true`, `{"a":1}`, `[1,2]`, `null`) and anything else is a string.
 */
export function parseParamValue(raw: string, declaredType?: string): Json {
  if (declaredType === "string") return raw;
  try {
    return JSON.parse(raw) as Json;
  } catch {
    return raw;
  }
}

/** `--param` flags in order; a later flag for the same key wins. */
export function parseParamFlags(
  command: string,
  flags: readonly string[],
  declarations: FlowSpec["parameters"],
): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(`--param expects key=value, got "${flag}"`, command);
    }
    const key = flag.slice(0, eq);
    const declared = Object.prototype.hasOwnProperty.call(declarations, key)
      ? declarations[key]
      : undefined;
    out[key] = parseParamValue(flag.slice(eq + 1), declared?.type);
  }
  return out;
}

/** `--params-file`: a JSON object of parameters. */
export async function readParamsFile(
  command: string,
  file: string,
  cwd: string,
): Promise<Record<string, Json>> {
  let text: string;
  try {
    text = await readFile(path.resolve(cwd, file), "utf8");
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : String(error);
    throw new UsageError(`--params-file ${file}: ${reason}`, command);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--params-file ${file}: not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      command,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(`--params-file ${file}: expected a JSON object of parameters`, command);
  }
  return parsed as Record<string, Json>;
}
