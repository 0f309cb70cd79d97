/**
 * Hostile requests against the embedded platform, end to end over HTTP: each is refused with a
 * status naming the field or header, and nothing changes (no run is created, no worker stops,
 * the platform keeps serving).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildFlow } from "../../lib/bundler";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { registerArtifact } from "../../lib/local/registration";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");
const NUL_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nul-in-value";

type Json = Record<string, unknown>;

let dataDir: string;
let platform: LocalPlatform;

/** One request with exactly these headers (Host included unless given). */
function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(`${platform.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolvePromise({
          status: res.statusCode ?? 0,
          body: text === "" ? {} : (JSON.parse(text) as Json),
        });
      });
    });
    req.on("error", reject);
    req.end(
      body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    );
  });
}

const json = { "content-type": "application/json" };
const launch = (body: Json, headers: Record<string, string> = json) =>
  call("POST", "/flows/hello/runs", headers, body);

async function runIds(): Promise<string[]> {
  const { status, body } = await call("GET", "/runs?org_id=acme-corp&limit=100");
  expect(status).toBe(200);
  return (body.runs as Json[]).map((r) => r.run_id as string).sort();
}

async function waitForRun(runId: string, done: (run: Json) => boolean): Promise<Json> {
  const deadline = Date.now() + 45_000;
  let run: Json = {};
  while (Date.now() < deadline) {
    run = (await call("GET", `/runs/${runId}`)).body;
    if (done(run)) return run;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} never got there; last seen ${JSON.stringify(run)}`);
}
const terminal = (run: Json) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(run.status as string);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "dagy-hostile-"));
  await writeFile(join(dataDir, "secrets.json"), JSON.stringify({ [NUL_SECRET]: "pa\u0000ss" }), {
    mode: 0o600,
  });
  platform = await startLocalPlatform({
    dataDir,
    cwd: REPO,
    port: 0,
    concurrency: 1,
    registerExamples: false,
    startScheduler: false,
    workerCommand: await defaultWorkerCommand(),
    stopGraceMs: 3000,
  });
  const target = { ...platform, artifactBucket: platform.buckets.artifacts };
  for (const entry of [
    join(__dirname, "flows", "sleepy.ts"),
    join(REPO, "examples/flows/hello.ts"),
  ]) {
    const built = await buildFlow({ entry, cwd: REPO });
    await registerArtifact(target, "acme-corp", built.spec, built.artifact);
  }
});

afterAll(async () => {
  await platform?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("launch requests", () => {
  it.each([
    ["NODE_OPTIONS", "--import=data:text/javascript,process.exit(7)"],
    ["LD_PRELOAD", "/tmp/evil.so"],
    ["BASH_ENV", "/tmp/evil.sh"],
    ["HTTPS_PROXY", "http://evil:3128"],
    ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil/creds"],
  ])("extra_env_vars %s: 400 naming it, no run created", async (name, value) => {
    const before = await runIds();
    const { status, body } = await launch({
      org_id: "acme-corp",
      extra_env_vars: { [name]: value },
    });
    expect(status).toBe(400);
    expect(body.error).toContain(`extra_env_vars.${name}`);
    expect(body.error).toContain("reserved");
    expect(await runIds()).toEqual(before);
  });

  it.each([
    ["correlation_id", "req\u00001"],
    ["correlation_id", "req\u009b31m"],
    ["extra_env_vars", { OUTPUT: "a\u0000b" }, "extra_env_vars.OUTPUT"],
    ["parameters", { name: "x\u0007" }, "parameters.name"],
  ])("%s = %j: 400 naming the field, no run created", async (...row) => {
    // Rest parameters: jest would take a parameter missing from a row for `done`.
    const [field, value, named = field] = row as [string, unknown, string?];
    const before = await runIds();
    const { status, body } = await launch({ org_id: "acme-corp", [field]: value });
    expect(status).toBe(400);
    expect(body.error).toContain(`${named}:`);
    expect(body.error).toContain("control characters");
    expect(await runIds()).toEqual(before);
  });

  it("a browser's cross-site form, a foreign Origin and a rebound Host launch nothing", async () => {
    const before = await runIds();
    const port = new URL(platform.url).port;
    const form = await launch(
      { org_id: "acme-corp" },
      {
        "content-type": "text/plain",
        origin: "http://evil.example",
      },
    );
    expect(form.status).toBe(403);
    const simple = await launch({ org_id: "acme-corp" }, { "content-type": "text/plain" });
    expect(simple.status).toBe(415);
    expect(simple.body.error).toContain("Content-Type");
    const foreign = await launch(
      { org_id: "acme-corp" },
      { ...json, origin: "http://evil.example" },
    );
    expect(foreign.status).toBe(403);
    expect(foreign.body.error).toContain("Origin");
    const rebound = await launch(
      { org_id: "acme-corp" },
      { ...json, host: `evil.example:${port}` },
    );
    expect(rebound.status).toBe(421);
    expect(rebound.body.error).toContain("Host");
    expect(await runIds()).toEqual(before);
  });
});

describe("a run whose worker cannot start", () => {
  it("a NUL byte in an env value while the worker slot is busy: that run FAILED, nothing else stops", async () => {
    const busy = await call("POST", "/flows/sleepy/runs", json, {
      org_id: "acme-corp",
      parameters: { seconds: 120 },
    });
    const busyId = busy.body.run_id as string;
    await waitForRun(busyId, (r) => r.status === "RUNNING");

    // Valid at the edge (the value lives in the local secrets file), unstartable at spawn.
    const nul = await launch({
      org_id: "acme-corp",
      secrets_env: { DB_PASSWORD: NUL_SECRET },
    });
    expect(nul.status).toBe(200);
    const nulId = nul.body.run_id as string;
    expect((await call("GET", `/runs/${nulId}`)).body.status).toBe("QUEUED");

    // The busy worker is still running; free its slot so the queue pump starts the next run.
    expect((await call("GET", `/runs/${busyId}`)).body.status).toBe("RUNNING");
    const cancel = await call("POST", `/runs/${busyId}/cancel`, json, { org_id: "acme-corp" });
    expect(cancel.status).toBe(200);

    const failed = await waitForRun(nulId, terminal);
    expect(failed.status).toBe("FAILED");
    expect(failed.error_message).toContain("environment variable DB_PASSWORD contains a NUL byte");
    expect(JSON.stringify(failed)).not.toContain("pa\\u0000ss");

    // The platform keeps serving and running.
    const next = await launch({ org_id: "acme-corp" });
    expect(next.status).toBe(200);
    const done = await waitForRun(next.body.run_id as string, terminal);
    expect(done.status).toBe("SUCCEEDED");
  });
});
