/**
 * The CLI speaks only the HTTP API: a flow author needs `execute-api:Invoke` and nothing else.
 * No module of lib/cli may reach for an AWS service client or the stores behind the API.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const CLI = join(__dirname, "..", "..", "lib", "cli");

/** Modules that call DynamoDB, S3, ECS, EventBridge, Scheduler or CloudWatch Logs. */
const FORBIDDEN = [
  /["']@aws-sdk\/client-/,
  /["']@aws-sdk\/lib-dynamodb["']/,
  // lib/aws holds the clients; its SigV4 signer (no client, no store) is how the CLI signs.
  /["']\.\.\/aws\/(?!sigv4["'])/,
  /["']\.\.\/persistence\/(?!schema["'])/,
  /["']\.\.\/storage\/object-store["']/,
  /["']\.\.\/services["'/]/,
  /["']\.\.\/launcher\//,
  /["']\.\.\/schedules\/eventbridge/,
];

describe("lib/cli", () => {
  it("imports no AWS service client and no store: every command goes through the API", () => {
    // dev.ts starts the local platform itself; it is the platform, not a client of it.
    const files = readdirSync(CLI).filter((f) => f.endsWith(".ts") && f !== "dev.ts");
    const offending = files.flatMap((file) => {
      const source = readFileSync(join(CLI, file), "utf8");
      const imports = source.match(/(?:from|require\()\s*["'][^"']+["']/g) ?? [];
      return imports
        .filter((line) => FORBIDDEN.some((pattern) => pattern.test(line)))
        .map((line) => `${file}: ${line}`);
    });
    expect(offending).toEqual([]);
    expect(files.length).toBeGreaterThan(15);
  });
});
