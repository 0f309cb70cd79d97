import * as zc from "zod";
import * as z from "zod/mini";
import {
  jsonWithoutControlCharacters,
  multilineText,
  noControlCharacters,
  plainText,
} from "../../lib/validation/strings";

const messages = (result: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}) => (result.success ? [] : result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`));

describe("string checks for wire schemas", () => {
  const schema = z.object({
    id: plainText(16),
    note: multilineText(64),
    data: z.unknown().check(jsonWithoutControlCharacters()),
  });

  it("accepts plain text, line breaks in multiline text and clean JSON", () => {
    expect(
      schema.safeParse({ id: "req-1", note: "a\tb\r\nc", data: { a: ["x\ny"] } }).success,
    ).toBe(true);
  });

  it.each([
    [{ id: "a\u0000" }, "id: must not contain control characters (found U+0000 at position 1)"],
    [{ id: "a\nb" }, "id: must not contain control characters (found U+000A at position 1)"],
    [{ id: "x".repeat(17) }, "id: must be at most 16 characters"],
    [{ note: "\u001b[2J" }, "note: must not contain control characters other than tab"],
    [{ note: "a\u0085" }, "note: must not contain control characters other than tab"],
    [
      { data: { list: [1, { k: "\u0000" }] } },
      "data.list.1.k: must not contain control characters",
    ],
    [{ data: { "bad\u0001key": 1 } }, "data: a key must not contain control characters"],
  ])("refuses %j, naming the field", (fields, expected) => {
    const found = messages(schema.safeParse({ id: "ok", note: "ok", data: {}, ...fields }));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(expected);
  });

  it("works in classic zod schemas too", () => {
    const classic = zc.object({ name: zc.string().check(noControlCharacters()) });
    expect(messages(classic.safeParse({ name: "a\u0007" }))).toEqual([
      "name: must not contain control characters (found U+0007 at position 1)",
    ]);
    expect(classic.safeParse({ name: "fine" }).success).toBe(true);
  });
});
