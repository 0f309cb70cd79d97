/**
 * The lifecycle commands against an API configured as a deployed stack has it: the API handler
 * behind a local server that verifies SigV4 signatures as API Gateway's IAM authorizer does
 * (or bearer tokens, for JWT mode), named by a `cdk deploy --outputs-file` document. The CLI
 * signs with the SDK's default credential chain, here AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
 * Behind the handler: the local platform's stores and workers.
 */
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createApi, createAuthResolver } from "../../lib/api";
import { main } from "../../lib/cli";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";
import { startSigningApiServer, type SigningApiServer } from "../support/signing-api-server";

const REPO = resolve(__dirname, "..", "..");
const BIN = join(REPO, "bin", "dagy.js");
const REGION = "eu-west-1";
const KEY = { accessKeyId: "AKIAFLOWAUTHOR000001", secretAccessKey: "flow/author+secret" };

/** What the SDK's default credential chain finds: keys in the environment, nothing else. */
const CREDENTIAL_ENV: Record<string, string | undefined> = {
  AWS_ACCESS_KEY_ID: KEY.accessKeyId,
  AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_REGION: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_CONFIG_FILE: "/nonexistent/dagy-test-config",
  AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/dagy-test-credentials",
};

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without DAGY_* / AWS variables, plus the test's credentials. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("DAGY_") && !k.startsWith("AWS_")) env[k] = v;
  }
  for (const [k, v] of Object.entries(CREDENTIAL_ENV)) if (v !== undefined) env[k] = v;
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  return env;
}

async function dagy(args: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    cwd: REPO,
    env: { ...cliEnv(), ...extraEnv },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}

function dagyProcess(args: string[]): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: cliEnv() });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

function runIdIn(text: string): string {
  const match = /run ([0-9a-f-]{36})/.exec(text);
  if (!match) throw new Error(`no run id in: ${text}`);
  return match[1] as string;
}

/** An HS256 JWT as an identity provider would issue it (the test gateway checks it verbatim). */
function mintJwt(claims: Record<string, string>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  const signature = createHmac("sha256", "test-issuer-secret").update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}

describe("dagy against a deployed stack's API (SigV4, IAM mode)", () => {
  let dataDir: string;
  let platform: LocalPlatform;
  let gateway: SigningApiServer;
  let at: string[];
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    // The SDK's credential chain reads the process environment (the CLI's own env is io.env).
    for (const [name, value] of Object.entries(CREDENTIAL_ENV)) {
      saved[name] = process.env[name];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    dataDir = await mkdtemp(join(tmpdir(), "dagy-deployed-"));
    platform = await startLocalPlatform({
      dataDir,
      cwd: REPO,
      port: 0,
      workerCommand: await defaultWorkerCommand(),
      startScheduler: false,
      stopGraceMs: 3000,
    });
    // The handler as the stack's api Lambda has it: IAM mode over the platform's services.
    const api = createApi({ services: platform.services, auth: createAuthResolver("iam") });
    gateway = await startSigningApiServer({
      auth: { mode: "iam", region: REGION, keys: [KEY] },
      handler: (event) => api.handle(event),
    });
    const outputs = join(dataDir, "cdk-outputs.json");
    await writeFile(
      outputs,
      JSON.stringify({
        "Dagy-production": {
          DagyApiUrl: `${gateway.url}/`,
          DagyApiAuthMode: "iam",
          DagyRegion: REGION,
          DagyArtifactBucket: "dagy-production-artifacts",
        },
      }),
    );
    at = ["--outputs", outputs];
  });

  afterAll(async () => {
    await gateway?.close();
    await platform?.close();
    await rm(dataDir, { recursive: true, force: true });
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("launches and waits, then lists and shows the run; every request was signed", async () => {
    const launched = await dagyProcess([
      "launch",
      "hello",
      "--param",
      "name=Signed",
      "--wait",
      ...at,
    ]);
    expect(launched.stderr).toBe("");
    expect(launched.code).toBe(0);
    expect(launched.stdout).toMatch(/succeeded/);
    const runId = runIdIn(launched.stdout);

    const [runs, status] = await Promise.all([
      dagy(["runs", "--flow", "hello", ...at]),
      dagy(["status", runId, ...at]),
    ]);
    expect(runs.code).toBe(0);
    expect(runs.stdout).toContain(runId);
    expect(status.stdout).toMatch(/status:\s+SUCCEEDED/);
    expect(gateway.requests.length).toBeGreaterThan(3);
    expect(gateway.requests.filter((r) => r.refused !== undefined)).toEqual([]);
  });

  it("registers a flow through a presigned upload, and a second register is a no-op", async () => {
    const first = await dagy(["register", "test/local/flows/sleepy.ts", ...at]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /Registered sleepy 1\.0\.0: s3:\/\/\S+\/flows\/sleepy\/1\.0\.0\/artifact\.zip/,
    );
    // The bytes went to storage, not through the API: it saw the two signed calls only.
    const calls = gateway.requests.map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(calls).toEqual(
      expect.arrayContaining([
        "POST /flows/sleepy/versions/uploads 200",
        "POST /flows/sleepy/versions 200",
      ]),
    );
    expect(calls.filter((c) => c.startsWith("PUT "))).toEqual([]);
    const again = await dagy(["register", "test/local/flows/sleepy.ts", ...at]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already registered with this code.*nothing to do/);

    // Same version, other bytes (another build time): the API refuses, the CLI exits 1.
    const zip = join(dataDir, "sleepy.zip");
    expect((await dagy(["build", "test/local/flows/sleepy.ts", "--output", zip])).code).toBe(0);
    const conflict = await dagy(["register", zip, ...at]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(
      /^dagy: error: flow sleepy version 1\.0\.0 is already registered with different content/,
    );
  });

  it("cancels a running run", async () => {
    const launched = await dagy(["launch", "sleepy", "--param", "seconds=120", ...at]);
    expect(launched.code).toBe(0);
    const runId = runIdIn(launched.stdout);
    const cancelled = await dagy(["cancel", runId, "--wait", ...at]);
    expect(cancelled.stderr).toBe("");
    expect(cancelled.code).toBe(0);
    const status = await dagy(["status", runId, "--json", ...at]);
    expect((JSON.parse(status.stdout) as { status: string }).status).toBe("CANCELLED");
  });

  it("follows a run's log until it finishes", async () => {
    const launched = await dagy(["launch", "sleepy", "--param", "seconds=1", ...at]);
    expect(launched.code).toBe(0);
    const runId = runIdIn(launched.stdout);
    const followed = await dagy(["logs", runId, "--follow", ...at]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/task_succeeded\s+wait/);
    expect(followed.stdout).toMatch(/run_succeeded/);
    expect(followed.stderr).toBe(`Run ${runId} SUCCEEDED\n`);
  });

  it("creates a schedule in a time zone and lists it", async () => {
    const created = await dagy([
      "schedules",
      "create",
      "nightly-hello",
      "--flow",
      "hello",
      "--expression",
      "cron(30 1 * * ? *)",
      "--time-zone",
      "America/New_York",
      ...at,
    ]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const listed = await dagy(["schedules", "list", ...at]);
    expect(listed.stdout).toMatch(
      /nightly-hello\s+hello\s+cron\(30 1 \* \* \? \*\)\s+America\/New_York\s+yes/,
    );
  });

  it("pushes a dependency package, puts it in a deployment and runs with it", async () => {
    const pkg = join(dataDir, "greeting-utils");
    await mkdir(pkg, { recursive: true });
    await writeFile(
      join(pkg, "package.json"),
      JSON.stringify({ name: "greeting-utils", version: "1.0.0", main: "index.js" }),
    );
    await writeFile(join(pkg, "index.js"), "exports.shout = (s) => s.toUpperCase();\n");
    const pushed = await dagy([
      "deps",
      "push",
      pkg,
      "--slug",
      "greeting-utils",
      "--version",
      "1.0.0",
      ...at,
    ]);
    expect(pushed.stderr).toBe("");
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(
      /Pushed greeting-utils 1\.0\.0: s3:\/\/\S+\/dep-packages\/greeting-utils\.zip/,
    );
    const listed = await dagy(["deps", "list", ...at]);
    expect(listed.stdout).toMatch(/greeting-utils\s+1\.0\.0/);

    const set = await dagy([
      "deployments",
      "set",
      "develop",
      "--packages",
      "greeting-utils",
      ...at,
    ]);
    expect(set.stderr).toBe("");
    expect(set.code).toBe(0);
    const deployments = await dagy(["deployments", "list", ...at]);
    expect(deployments.stdout).toMatch(/develop\s+develop\s+greeting-utils/);
    const missing = await dagy(["deployments", "set", "broken", "--packages", "nope", ...at]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope/);

    const launched = await dagy(["launch", "hello", "--deployment", "develop", "--wait", ...at]);
    expect(launched.stderr).toBe("");
    expect(launched.code).toBe(0);
  });

  it("reads a failed run's log and traceback through the API", async () => {
    const registered = await dagy(["register", "test/cli-lifecycle/flows/failing.ts", ...at]);
    expect(registered.code).toBe(0);
    const launched = await dagy(["launch", "failing", "--param", "reason=signed", "--wait", ...at]);
    expect(launched.code).toBe(1);
    const runId = runIdIn(launched.stdout);

    const logs = await dagy(["logs", runId, ...at]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/task_failed\s+explode\s+.*exploded on purpose: signed/);
    const raw = await dagy(["logs", runId, "--json", ...at]);
    const events = raw.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event_type?: string; run_id?: string });
    expect(events.map((e) => e.event_type)).toEqual(
      expect.arrayContaining(["run_started", "task_failed", "run_failed"]),
    );
    expect(new Set(events.map((e) => e.run_id))).toEqual(new Set([runId]));

    const traceback = await dagy(["traceback", runId, ...at]);
    expect(traceback.stderr).toBe("");
    expect(traceback.code).toBe(0);
    expect(traceback.stdout).toMatch(/exploded on purpose: signed/);

    const [succeeded] =
      (
        await dagy(["runs", "--flow", "hello", "--status", "SUCCEEDED", "--json", ...at])
      ).stdout.match(/[0-9a-f-]{36}/) ?? [];
    const none = await dagy(["traceback", succeeded ?? "", ...at]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/left no traceback \(status SUCCEEDED\)/);
  });

  it("finds the stack by DAGY_API_URL, signing with the caller's AWS profile and its region", async () => {
    const config = join(dataDir, "aws-config");
    const credentials = join(dataDir, "aws-credentials");
    await writeFile(config, `[profile flow-author]\nregion = ${REGION}\n`);
    await writeFile(
      credentials,
      `[flow-author]\naws_access_key_id = ${KEY.accessKeyId}\naws_secret_access_key = ${KEY.secretAccessKey}\n`,
    );
    // The SDK reads the profile and its files from the process environment; a named profile
    // takes precedence over the key variables, so these are taken out of the way.
    const names = [
      "AWS_CONFIG_FILE",
      "AWS_SHARED_CREDENTIALS_FILE",
      "AWS_PROFILE",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
    ];
    const before = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    process.env.AWS_CONFIG_FILE = config;
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentials;
    process.env.AWS_PROFILE = "flow-author";
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      const runs = await dagy(["runs", "--flow", "hello"], {
        DAGY_API_URL: gateway.url,
        DAGY_API_AUTH_MODE: "iam",
      });
      expect(runs.stderr).toBe("");
      expect(runs.code).toBe(0);
      expect(runs.stdout).toMatch(/hello\s+\S+\s+SUCCEEDED/);
    } finally {
      for (const name of names) {
        const value = before[name];
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it("fails with the gateway's message and what to fix when the credentials are wrong", async () => {
    const before = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = "not-the-secret";
    try {
      const refused = await dagy(["runs", ...at]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^dagy: error: The request signature we calculated does not match/,
      );
      expect(refused.stderr).toMatch(/needs execute-api:Invoke on this API/);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = before;
    }
  });

  it("maps the API's error codes to exit codes: invalid request 2, unknown flow 1", async () => {
    const [invalid, unknown] = await Promise.all([
      dagy(["launch", "hello", "--profile", "huge", ...at]),
      dagy(["launch", "no_such_flow", ...at]),
    ]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/workload_profile/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no_such_flow/);
  });

  describe("in JWT mode", () => {
    let jwtGateway: SigningApiServer;
    let jwtAt: string[];
    const token = mintJwt({ sub: "ada", org_id: "acme-corp" });
    beforeAll(async () => {
      const api = createApi({ services: platform.services, auth: createAuthResolver("jwt") });
      jwtGateway = await startSigningApiServer({
        auth: { mode: "jwt", tokens: { [token]: { org_id: "acme-corp", sub: "ada" } } },
        handler: (event) => api.handle(event),
      });
      const outputs = join(dataDir, "jwt-outputs.json");
      await writeFile(
        outputs,
        JSON.stringify({ Dagy: { DagyApiUrl: jwtGateway.url, DagyApiAuthMode: "jwt" } }),
      );
      jwtAt = ["--outputs", outputs];
    });
    afterAll(() => jwtGateway?.close());

    it("sends --token / DAGY_TOKEN and acts for the token's org", async () => {
      const launched = await dagy(["launch", "hello", "--wait", "--token", token, ...jwtAt]);
      expect(launched.stderr).toBe("");
      expect(launched.code).toBe(0);
      expect(launched.stdout).toMatch(/Launched hello for acme-corp/);
      const runs = await dagy(["runs", ...jwtAt], { DAGY_TOKEN: token });
      expect(runs.code).toBe(0);
      expect(runs.stdout).toContain(runIdIn(launched.stdout));

      const other = await dagy(["runs", "--org", "globex", ...jwtAt], { DAGY_TOKEN: token });
      expect(other.code).toBe(1);
      expect(other.stderr).toMatch(/"globex" is not the organization of the access token/);
      const missing = await dagy(["runs", ...jwtAt]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/pass --token or set DAGY_TOKEN/);
      const forged = await dagy(["runs", "--org", "acme-corp", "--token", "forged", ...jwtAt]);
      expect(forged.code).toBe(1);
      expect(forged.stderr).toMatch(/refused the bearer token/);
    });
  });
});
