/**
 * The README's deployment configuration is what synth accepts (finding 10): every JSON block
 * naming an `environment` parses with the stack config schema, every key the configuration
 * paragraph names exists in it, and the secrets example is allowed by the default pattern.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseStackConfig, stackConfigSchema } from "../../lib/infra/config";

const README = fs.readFileSync(path.resolve(__dirname, "../../README.md"), "utf8");

/** The fenced ```json blocks, parsed. */
function jsonBlocks(): unknown[] {
  return [...README.matchAll(/```json\n([\s\S]*?)```/g)].map(
    (match) => JSON.parse(match[1]!) as unknown,
  );
}

/** The keys the stack config schema accepts (its input object's shape). */
function schemaKeys(): string[] {
  const inner = (stackConfigSchema as unknown as { in: { shape: Record<string, unknown> } }).in;
  return Object.keys(inner.shape);
}

describe("README configuration", () => {
  test("every stack config JSON block passes the schema synth uses", () => {
    const configs = jsonBlocks().filter(
      (block): block is Record<string, unknown> =>
        typeof block === "object" && block !== null && "environment" in block,
    );
    expect(configs.length).toBeGreaterThanOrEqual(3);
    for (const config of configs) expect(() => parseStackConfig(config)).not.toThrow();
  });

  test("the keys the configuration paragraph names are the schema's keys", () => {
    const start = README.indexOf("holds more `StackConfig` fields");
    const end = README.indexOf("Invalid configuration fails synth", start);
    expect(start).toBeGreaterThan(0);
    const paragraph = README.slice(start, end);
    // Backticked identifiers followed by a space, comma or opening parenthesis: named keys.
    const named = [...paragraph.matchAll(/`([a-z][A-Za-z]+)`(?=[\s,(.])/g)].map((m) => m[1]!);
    const keys = schemaKeys();
    expect(named.filter((key) => !keys.includes(key))).toEqual([]);
    // And every key the schema accepts is documented there.
    expect(keys.filter((key) => key !== "environment" && !named.includes(key))).toEqual([]);
  });

  test("the secrets example is under the default allowed pattern, secret:<appName>/*", () => {
    const arns = [...README.matchAll(/--secret [A-Z_]+=(arn:aws:secretsmanager:[^\s`]+)/g)].map(
      (m) => m[1]!,
    );
    expect(arns.length).toBeGreaterThan(0);
    for (const arn of arns) expect(arn).toMatch(/:secret:dagy\//);
  });
});
