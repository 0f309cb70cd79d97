/**
 * `dagy console` for a deployed stack: the browser talks to 127.0.0.1 only, and the command
 * forwards each API call to the stack's API through the CLI's transport — SigV4-signed with the
 * user's AWS credentials in IAM mode, with the bearer token in JWT mode. The stack's API is a
 * stand-in that verifies signatures and tokens as API Gateway does.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HttpApiEvent } from "../../lib/api/http";
import { command as consoleCommand } from "../../lib/cli/console";
import type { CliIO } from "../../lib/cli/io";
import { startSigningApiServer, type SigningApiServer } from "../support/signing-api-server";

const REGION = "eu-west-1";
const KEY = { accessKeyId: "AKIACONSOLEUSER00001", secretAccessKey: "console/user+secret" };
/** A JWT's shape (the stand-in accepts it by value; the CLI reads its org claim). */
const TOKEN = [
  Buffer.from('{"alg":"RS256"}').toString("base64url"),
  Buffer.from(JSON.stringify({ org_id: "globex", sub: "ana" })).toString("base64url"),
  "signature",
].join(".");

/** The SDK's default credential chain finds these keys in the environment, nothing else. */
const CREDENTIAL_ENV: Record<string, string | undefined> = {
  AWS_ACCESS_KEY_ID: KEY.accessKeyId,
  AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_CONFIG_FILE: "/nonexistent/dagy-test-config",
  AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/dagy-test-credentials",
};

/** A stack API answering every call with the event it received (after its auth check). */
function echoHandler(seen: HttpApiEvent[]) {
  return async (event: HttpApiEvent) => {
    seen.push(event);
    return {
      statusCode: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ path: event.rawPath, body: event.body ?? null }),
    };
  };
}

/** Runs `dagy console <args> --console-port 0` until `stop()`; resolves with its URL. */
async function startConsole(
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; stop: () => Promise<number> }> {
  let output = "";
  let errors = "";
  let interrupt: (() => void) | undefined;
  const io: CliIO = {
    cwd: process.cwd(),
    env,
    stdout: (text) => void (output += text),
    stderr: (text) => void (errors += text),
    onInterrupt: (handler) => {
      interrupt = handler;
      return () => (interrupt = undefined);
    },
  };
  const exit = consoleCommand.run([...args, "--console-port", "0"], io);
  const pattern = /open (http:\/\/127\.0\.0\.1:\d+)\/console\//;
  const deadline = Date.now() + 10_000;
  while (!pattern.test(output) && Date.now() < deadline) {
    const failed = await Promise.race([exit, new Promise((r) => setTimeout(r, 50))]);
    if (typeof failed === "number") throw new Error(`dagy console exited ${failed}: ${errors}`);
  }
  const url = pattern.exec(output)?.[1];
  if (url === undefined) throw new Error(`dagy console printed no URL: ${output}${errors}`);
  return {
    url,
    stop: async () => {
      interrupt?.();
      return exit;
    },
  };
}

/** The file `cdk deploy --outputs-file cdk-outputs.json` writes, for a stack behind `apiUrl`. */
async function outputsFile(dir: string, apiUrl: string, authMode: "iam" | "jwt"): Promise<string> {
  const file = join(dir, `cdk-outputs-${authMode}.json`);
  const outputs = {
    DagyApiUrl: `${apiUrl}/`,
    DagyApiAuthMode: authMode,
    DagyRegion: REGION,
    DagyArtifactBucket: "dagy-production-artifacts",
  };
  await writeFile(file, JSON.stringify({ "Dagy-production": outputs }));
  return file;
}

describe("dagy console --outputs cdk-outputs.json (a deployed stack)", () => {
  const saved: Record<string, string | undefined> = {};
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dagy-console-outputs-"));
    for (const [name, value] of Object.entries(CREDENTIAL_ENV)) {
      saved[name] = process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  describe("IAM mode", () => {
    let gateway: SigningApiServer;
    const seen: HttpApiEvent[] = [];
    beforeAll(async () => {
      gateway = await startSigningApiServer({
        auth: { mode: "iam", region: REGION, keys: [KEY] },
        handler: echoHandler(seen),
      });
    });
    afterAll(() => gateway.close());

    it("signs every forwarded call with the user's credentials (SigV4), bodies included", async () => {
      const outputs = await outputsFile(dir, gateway.url, "iam");
      const console = await startConsole(["--outputs", outputs], {});
      try {
        const list = await fetch(`${console.url}/runs?org_id=acme-corp&status=FAILED`);
        expect(list.status).toBe(200);
        const cancel = await fetch(`${console.url}/runs/run-1/cancel`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ reason: "from the console" }),
        });
        expect(cancel.status).toBe(200);
        expect(await cancel.json()).toEqual({
          path: "/runs/run-1/cancel",
          body: JSON.stringify({ reason: "from the console" }),
        });
      } finally {
        expect(await console.stop()).toBe(0);
      }
      // The stand-in verified each signature (a bad one is a 403 there).
      expect(gateway.requests).toEqual([
        { method: "GET", path: "/runs", status: 200 },
        { method: "POST", path: "/runs/run-1/cancel", status: 200 },
      ]);
      expect(seen.map((e) => e.requestContext.authorizer?.iam?.accessKey)).toEqual([
        KEY.accessKeyId,
        KEY.accessKeyId,
      ]);
    });
  });

  describe("JWT mode", () => {
    let gateway: SigningApiServer;
    const seen: HttpApiEvent[] = [];
    beforeAll(async () => {
      gateway = await startSigningApiServer({
        auth: { mode: "jwt", tokens: { [TOKEN]: { org_id: "globex", sub: "ana" } } },
        handler: echoHandler(seen),
      });
    });
    afterAll(() => gateway.close());

    it("sends the user's bearer token, never to the browser, and shows the token's org", async () => {
      const outputs = await outputsFile(dir, gateway.url, "jwt");
      const console = await startConsole(["--outputs", outputs, "--token", TOKEN], {});
      try {
        const html = await (await fetch(`${console.url}/console/`)).text();
        expect(html).not.toContain(TOKEN);
        expect(html).toContain('<meta name="dagy-org" content="globex">');
        const list = await fetch(`${console.url}/runs?org_id=globex`);
        expect(list.status).toBe(200);
      } finally {
        expect(await console.stop()).toBe(0);
      }
      expect(gateway.requests).toEqual([{ method: "GET", path: "/runs", status: 200 }]);
      expect(seen[0]?.requestContext.authorizer?.jwt?.claims).toMatchObject({ sub: "ana" });
    });
  });
});
