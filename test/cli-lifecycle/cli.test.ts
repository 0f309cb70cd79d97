/**
 * The lifecycle commands against a local platform running in this process (found through its
 * data directory). Most run through the CLI's `main` with captured output — the same code
 * `bin/dagy.ts` calls; the headline flows run as a user types them, `node bin/dagy.js <cmd>`
 * in a child process (each spawn pays for tsx start-up, so they are few).
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { main } from "../../lib/cli";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");
const BIN = join(REPO, "bin", "dagy.js");

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without DAGY_* / AWS variables that would point the CLI elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("DAGY_") && !k.startsWith("AWS_")) env[k] = v;
  }
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  return env;
}

/** `dagy <args>` in this process, through the CLI's entry function. */
async function dagy(args: string[]): Promise<Result> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    cwd: REPO,
    env: cleanEnv(),
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}

/** `node bin/dagy.js <args>` in a child process. */
function dagyProcess(args: string[]): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: cleanEnv() });
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

describe("dagy lifecycle commands against the local platform", () => {
  let dataDir: string;
  let platform: LocalPlatform;
  let at: string[];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dagy-cli-"));
    platform = await startLocalPlatform({
      dataDir,
      cwd: REPO,
      port: 0,
      workerCommand: await defaultWorkerCommand(),
      startScheduler: false,
      stopGraceMs: 3000,
    });
    at = ["--data-dir", dataDir];
  });

  afterAll(async () => {
    await platform?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("registers a flow from source, and a second register is a no-op", async () => {
    const first = await dagy(["register", "test/local/flows/sleepy.ts", ...at]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /Registered sleepy 1\.0\.0: s3:\/\/dagy-local-artifacts\/flows\/sleepy\/1\.0\.0\/artifact\.zip/,
    );
    const again = await dagy(["register", "test/local/flows/sleepy.ts", ...at]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already registered with this code.*nothing to do/);
  });

  it("launches and waits, then shows the run in status, runs and logs", async () => {
    const launched = await dagyProcess(["launch", "hello", "--param", "name=CLI", "--wait", ...at]);
    expect(launched.stderr).toBe("");
    expect(launched.code).toBe(0);
    expect(launched.stdout).toMatch(/succeeded/);
    const runId = runIdIn(launched.stdout);

    const [status, runs, logs] = await Promise.all([
      dagy(["status", runId, ...at]),
      dagy(["runs", "--flow", "hello", ...at]),
      dagy(["logs", runId, ...at]),
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/status:\s+SUCCEEDED/);
    expect(status.stdout).toMatch(/hello\s+SUCCEEDED\s+1/); // the task table
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(/RUN ID\s+FLOW\s+VERSION\s+STATUS/);
    expect(runs.stdout).toContain(runId);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/info\s+hello\s+Hello, CLI!/);
    expect(logs.stdout).toMatch(/run_succeeded/);
    expect(logs.stdout).not.toMatch(/^\{"/m); // rendered, not raw JSON
  });

  it("cancels a running run", async () => {
    const launched = await dagy(["launch", "sleepy", "--param", "seconds=120", ...at]);
    expect(launched.code).toBe(0);
    const runId = runIdIn(launched.stdout);
    const cancelled = await dagy(["cancel", runId, "--wait", ...at]);
    expect(cancelled.stderr).toBe("");
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(/CANCELLED|cancelled\./);
    const status = await dagy(["status", runId, "--json", ...at]);
    expect((JSON.parse(status.stdout) as { status: string }).status).toBe("CANCELLED");
  });

  it("reports errors as one line with a non-zero exit code", async () => {
    const [unknownRun, badProfile, usage, noFlow] = await Promise.all([
      dagyProcess(["status", "00000000-0000-4000-8000-000000000000", ...at]),
      dagy(["launch", "hello", "--profile", "huge", ...at]),
      dagyProcess(["launch", ...at]),
      dagy(["launch", "no_such_flow", ...at]),
    ]);
    expect(unknownRun.code).toBe(1);
    expect(unknownRun.stderr).toBe(
      "dagy: error: Run not found: 00000000-0000-4000-8000-000000000000\n",
    );
    expect(badProfile.code).not.toBe(0);
    expect(badProfile.stderr.trim().split("\n")).toHaveLength(1);
    expect(badProfile.stderr).toMatch(/workload_profile.*small, medium, large/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing flow name/);
    expect(noFlow.code).not.toBe(0);
    expect(noFlow.stderr).toMatch(/no_such_flow/);
  });

  it("creates, lists and deletes a schedule", async () => {
    const created = await dagy([
      "schedules",
      "create",
      "nightly-hello",
      "--flow",
      "hello",
      "--expression",
      "cron(0 2 * * ? *)",
      "--time-zone",
      "Europe/Berlin",
      "--param",
      "name=night",
      ...at,
    ]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const listed = await dagy(["schedules", "list", ...at]);
    // With its next fire time (02:00 in Berlin) and no firing yet.
    expect(listed.stdout).toMatch(
      /nightly-hello\s+hello\s+cron\(0 2 \* \* \? \*\)\s+Europe\/Berlin\s+yes\s+\d{4}-\d\d-\d\d \d\d:\d\d\S*\s+-\s/,
    );
    const deleted = await dagy(["schedules", "delete", "nightly-hello", ...at]);
    expect(deleted.code).toBe(0);
    const after = await dagy(["schedules", "list", ...at]);
    expect(after.stdout).toMatch(/No schedules for acme-corp/);
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
    expect(pushed.stdout).toMatch(/s3:\/\/dagy-local-artifacts\/dep-packages\/greeting-utils\.zip/);

    const set = await dagy([
      "deployments",
      "set",
      "develop",
      "--packages",
      "greeting-utils",
      ...at,
    ]);
    expect(set.code).toBe(0);
    const missing = await dagy(["deployments", "set", "broken", "--packages", "nope", ...at]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope/);

    const launched = await dagy(["launch", "hello", "--deployment", "develop", "--wait", ...at]);
    expect(launched.stderr).toBe("");
    expect(launched.code).toBe(0);
  });

  it("register with the platform stopped says how to start it", async () => {
    const offline = await mkdtemp(join(tmpdir(), "dagy-cli-offline-"));
    try {
      const result = await dagy([
        "register",
        "examples/flows/hello.ts",
        "--data-dir",
        offline,
        "--port",
        "1",
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /cannot reach http:\/\/127\.0\.0\.1:1 .*start the local platform with `npm start`/,
      );
    } finally {
      await rm(offline, { recursive: true, force: true });
    }
  });
});
