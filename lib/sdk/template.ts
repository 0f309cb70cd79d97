/**
 * `{{ parameters.x }}` templates in task inputs.
 *
 * Only two expressions are templates: `parameters.<name>[.<key>…]` and `run_id`. Any other
 * `{{ … }}` text is left as written, so inputs may carry Handlebars/Jinja text for other tools.
 * A string that is exactly one template keeps the value's JSON type; templates inside longer
 * strings are interpolated (non-strings as JSON).
 */
import { DagyError } from "../errors";
import type { Json } from "./types";

export type TemplateExpression =
  | { readonly kind: "parameter"; readonly path: readonly string[]; readonly source: string }
  | { readonly kind: "run_id"; readonly source: string };

export type ParsedTemplate =
  | { readonly kind: "whole"; readonly expression: TemplateExpression }
  | { readonly kind: "parts"; readonly parts: ReadonlyArray<string | TemplateExpression> };

/** A template could not be resolved at run time (e.g. a nested key missing from a parameter). */
export class TemplateResolutionError extends DagyError {}

const TEMPLATE_PATTERN = /\{\{\s*(parameters(?:\.[A-Za-z0-9_-]+)+|run_id)\s*\}\}/g;

function toExpression(body: string, source: string): TemplateExpression {
  if (body === "run_id") return { kind: "run_id", source };
  return { kind: "parameter", path: body.split(".").slice(1), source };
}

/** Parses a string; `undefined` when it holds no template (the common case, kept cheap). */
export function parseTemplate(text: string): ParsedTemplate | undefined {
  if (!text.includes("{{")) return undefined;
  TEMPLATE_PATTERN.lastIndex = 0;
  const parts: Array<string | TemplateExpression> = [];
  let last = 0;
  for (let match = TEMPLATE_PATTERN.exec(text); match; match = TEMPLATE_PATTERN.exec(text)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(toExpression(match[1] as string, match[0]));
    last = match.index + match[0].length;
  }
  if (parts.length === 0) return undefined;
  if (last < text.length) parts.push(text.slice(last));
  if (parts.length === 1 && typeof parts[0] !== "string") {
    return { kind: "whole", expression: parts[0] as TemplateExpression };
  }
  return { kind: "parts", parts };
}

/** Names of the parameters a string's templates use (first path segment). */
export function templateParameterNames(parsed: ParsedTemplate): string[] {
  const expressions =
    parsed.kind === "whole"
      ? [parsed.expression]
      : parsed.parts.filter((p): p is TemplateExpression => typeof p !== "string");
  const names: string[] = [];
  for (const e of expressions) if (e.kind === "parameter") names.push(e.path[0] as string);
  return names;
}

function evaluate(
  expression: TemplateExpression,
  parameters: Readonly<Record<string, Json>>,
  runId: string,
): Json {
  if (expression.kind === "run_id") return runId;
  let value: Json | undefined = parameters;
  let walked = "parameters";
  for (const key of expression.path) {
    const container: Json | undefined = value;
    if (
      container === null ||
      typeof container !== "object" ||
      !Object.prototype.hasOwnProperty.call(container, key)
    ) {
      throw new TemplateResolutionError(
        `template ${expression.source}: ${walked} has no key ${JSON.stringify(key)}`,
      );
    }
    value = (container as Record<string, Json>)[key];
    walked += `.${key}`;
  }
  return value as Json;
}

export function renderTemplate(
  parsed: ParsedTemplate,
  parameters: Readonly<Record<string, Json>>,
  runId: string,
): Json {
  if (parsed.kind === "whole") return evaluate(parsed.expression, parameters, runId);
  let out = "";
  for (const part of parsed.parts) {
    if (typeof part === "string") {
      out += part;
    } else {
      const value = evaluate(part, parameters, runId);
      out += typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return out;
}
