/**
 * Control characters in strings that cross a boundary (HTTP bodies, events, environment
 * variables, archive entry names). Pure and dependency-free, so every layer can use it; the zod
 * checks built on it live in `lib/validation/strings.ts`.
 *
 * NUL truncates C strings (an environment value, a file name) and makes `spawn` throw; other
 * C0 and C1 controls rewrite terminals and log viewers (ANSI escapes, carriage returns). Ids,
 * names and keys allow none of them. Free text that legitimately spans lines (an environment
 * value holding a PEM, a parameter holding a CSV snippet) may keep tab, line feed and carriage
 * return and nothing else.
 */

/** `"none"`: no control character at all. `"whitespace"`: tab, LF and CR are allowed. */
export type ControlCharacterPolicy = "none" | "whitespace";

// C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F): matching them is the point.
/* eslint-disable no-control-regex */
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_EXCEPT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
/* eslint-enable no-control-regex */

/**
 * The first forbidden control character in `value`, described for a message
 * (`U+0000 at position 3`), or undefined when there is none.
 */
export function findControlCharacter(
  value: string,
  policy: ControlCharacterPolicy = "none",
): string | undefined {
  const match = (policy === "none" ? ANY_CONTROL : CONTROL_EXCEPT_WHITESPACE).exec(value);
  if (match === null) return undefined;
  const code = match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
  return `U+${code} at position ${match.index}`;
}

/** The message a validator reports for `findControlCharacter`'s finding. */
export function controlCharacterMessage(found: string, policy: ControlCharacterPolicy): string {
  return policy === "none"
    ? `must not contain control characters (found ${found})`
    : `must not contain control characters other than tab, line feed and carriage return (found ${found})`;
}

/**
 * Walks a JSON value (parameters, metadata) and returns the path and finding of the first key
 * or string holding a forbidden control character. Keys allow none; strings allow `policy`.
 */
export function findControlCharacterInJson(
  value: unknown,
  policy: ControlCharacterPolicy = "whitespace",
  path: readonly (string | number)[] = [],
): { path: (string | number)[]; found: string; inKey: boolean } | undefined {
  if (typeof value === "string") {
    const found = findControlCharacter(value, policy);
    return found === undefined ? undefined : { path: [...path], found, inKey: false };
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const hit = findControlCharacterInJson(item, policy, [...path, index]);
      if (hit) return hit;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const inKey = findControlCharacter(key, "none");
      // Name the key by position only: printing it would print the control character.
      if (inKey !== undefined) return { path: [...path], found: inKey, inKey: true };
      const hit = findControlCharacterInJson(item, policy, [...path, key]);
      if (hit) return hit;
    }
  }
  return undefined;
}
