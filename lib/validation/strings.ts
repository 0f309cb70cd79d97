/**
 * zod checks for strings that cross a boundary, for every wire schema (launch requests, API
 * bodies): bounded, and free of control characters. `zod/mini` checks, which classic `zod`
 * schemas accept too (`.check(...)`).
 *
 * ```ts
 * correlation_id: z.optional(plainText(256)),          // ids, names, keys: no control at all
 * description: z.optional(multilineText(4096)),         // text: tab, LF, CR allowed
 * parameters: z.optional(jsonObject.check(jsonWithoutControlCharacters())),
 * ```
 */
import * as z from "zod/mini";
import {
  controlCharacterMessage,
  findControlCharacter,
  findControlCharacterInJson,
  type ControlCharacterPolicy,
} from "../sdk/text";

/** A check refusing control characters in a string (`"none"`: ids, names, keys). */
export function noControlCharacters(policy: ControlCharacterPolicy = "none") {
  return z.superRefine((value: string, ctx) => {
    const found = findControlCharacter(value, policy);
    if (found !== undefined) {
      ctx.addIssue({
        code: "custom",
        message: controlCharacterMessage(found, policy),
        input: value,
      });
    }
  });
}

/** A one-line string of at most `max` characters with no control character. */
export function plainText(max: number) {
  return z
    .string({ error: "must be a string" })
    .check(
      z.maxLength(max, { error: `must be at most ${max} characters` }),
      noControlCharacters("none"),
    );
}

/** Text of at most `max` characters that may hold tabs and line breaks, nothing else. */
export function multilineText(max: number) {
  return z
    .string({ error: "must be a string" })
    .check(
      z.maxLength(max, { error: `must be at most ${max} characters` }),
      noControlCharacters("whitespace"),
    );
}

/**
 * A check for JSON values (parameters, metadata): keys hold no control character, strings none
 * but tab and line breaks. The issue's path leads to the offending value.
 */
export function jsonWithoutControlCharacters(policy: ControlCharacterPolicy = "whitespace") {
  return z.superRefine((value: unknown, ctx) => {
    const hit = findControlCharacterInJson(value, policy);
    if (hit === undefined) return;
    ctx.addIssue({
      code: "custom",
      path: hit.path,
      message: hit.inKey
        ? `a key ${controlCharacterMessage(hit.found, "none")}`
        : controlCharacterMessage(hit.found, policy),
      input: value,
    });
  });
}
