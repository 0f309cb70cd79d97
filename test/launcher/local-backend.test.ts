import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECSClient } from "@aws-sdk/client-ecs";
import {
  EcsBackend,
  LocalBackend,
  type ComputeBackend,
  type LocalWorkerExit,
  type WorkerLaunchSpec,
} from "../../lib/launcher";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { heapLimitMib, localTaskArn, runIdOfLocalTask } from "../../lib/launcher/local-backend";
import { makeLauncher, newOrg, registerFlow, runsOf } from "./support";

const FIXTURE = join(__dirname, "fixtures", "env-worker.js");
const DB_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password";

let env: TestEnv;
let dir: string;
const backends: LocalBackend[] = [];

beforeAll(async () => {
  env = await startTestEnv();
}, 60_000);
afterAll(async () => {
  await env.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dagy-local-backend-"));
});
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

interface Exit {
  runId: string;
  exit: LocalWorkerExit;
}

function localBackend(options: Partial<ConstructorParameters<typeof LocalBackend>[0]> = {}) {
  const exits: Exit[] = [];
  const waiters: Array<() => void> = [];
  const backend = new LocalBackend({
    workerCommand: [process.execPath, FIXTURE],
    cwd: dir,
    logDir: join(dir, "logs"),
    dynamodbEndpoint: env.endpoints.dynamodbEndpoint,
    s3Endpoint: env.endpoints.s3Endpoint,
    onExit: (runId, exit) => {
      exits.push({ runId, exit });
      waiters.splice(0).forEach((w) => w());
    },
    ...options,
  });
  backends.push(backend);
  /** Resolves once `n` workers have exited. */
  const exited = async (n: number): Promise<Exit[]> => {
    while (exits.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    return exits;
  };
  return { backend, exits, exited };
}

function spec(
  runId: string,
  extra: Record<string, string> = {},
  secretsEnv: Record<string, string> = {},
): WorkerLaunchSpec {
  return {
    runId,
    orgId: "acme-corp",
    flowName: "etl_pipeline",
    environment: { DAGY_RUN_ID: runId, DAGY_ORG_ID: "acme-corp", ...extra },
    cpu: "256",
    memory: "512",
    ephemeralStorageGib: 21,
    capacityProvider: "FARGATE",
    secretsEnv,
  };
}

function recorded(runId: string): { pid: number; env: Record<string, string> } {
  return JSON.parse(readFileSync(join(dir, `${runId}.env.json`), "utf8")) as {
    pid: number;
    env: Record<string, string>;
  };
}

async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 20));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("LocalBackend", () => {
  it("gives the worker exactly the environment ECS would get, plus local endpoints", async () => {
    const org = newOrg();
    await registerFlow(env, org, "etl_pipeline", "1.0.0");
    const { backend, exited } = localBackend();
    const specs: WorkerLaunchSpec[] = [];
    const recording: ComputeBackend = {
      submit: (s) => {
        specs.push(s);
        return backend.submit(s);
      },
      stop: (arn, reason) => backend.stop(arn, reason),
    };
    const launcher = makeLauncher(env, {}, { backend: recording });
    const result = await launcher.launch({
      flowName: "etl_pipeline",
      orgId: org,
      environment: "develop",
      parameters: { date: "2024-03-14" },
      extraEnvVars: { OUTPUT_BUCKET: "s3://dagy-outputs-develop" },
    });
    expect(result).toMatchObject({ success: true, taskArn: `local:${result.runId}` });
    await exited(1);

    const ecs = new EcsBackend({
      ecs: new ECSClient({ region: "us-east-1" }),
      clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
      taskDefinition: "dagy-worker",
      subnets: ["subnet-1"],
      securityGroups: ["sg-1"],
    });
    const overrides = ecs.buildRunTaskInput(specs[0]!, "dagy-worker").overrides!;
    const ecsEnv = Object.fromEntries(
      overrides.containerOverrides![0]!.environment!.map((e) => [e.name!, e.value!]),
    );
    const childEnv = { ...recorded(result.runId).env };
    expect(childEnv).toMatchObject({
      DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
      DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    });
    for (const name of [
      "DAGY_DYNAMODB_ENDPOINT",
      "DAGY_S3_ENDPOINT",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_REGION",
      "PATH",
      "HOME",
      "TMPDIR",
      "LANG",
      "TZ",
      "NODE_OPTIONS",
      "TEMP",
      "TMP",
      // Inherited like PATH (test/support/setup-env.ts sets it for every test).
      "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED",
    ]) {
      delete childEnv[name];
    }
    delete ecsEnv.AWS_REGION;
    // Beside ECS's variables, the worker learns its own task id (its claim records it).
    expect(childEnv.DAGY_TASK_ARN).toBe(result.taskArn);
    delete childEnv.DAGY_TASK_ARN;
    expect(childEnv).toEqual(ecsEnv);
    expect(childEnv.DAGY_PARAMETERS).toBe('{"date":"2024-03-14","retries":2}');
    expect(childEnv.OUTPUT_BUCKET).toBe("s3://dagy-outputs-develop");
    // The run points at the worker's log file.
    const run = await launcher.getRunStatus(result.runId);
    expect(run?.log_stream).toBe(join(dir, "logs", `${result.runId}.log`));
  });

  it("writes the worker's stdout and stderr to <logDir>/<runId>.log and reports the exit", async () => {
    const { backend, exited } = localBackend();
    await backend.submit(spec("run-log", { FIXTURE_EXIT_CODE: "3" }));
    const [exit] = await exited(1);
    expect(exit).toEqual({
      runId: "run-log",
      exit: { taskArn: "local:run-log", code: 3, signal: null },
    });
    const log = readFileSync(backend.logPath("run-log"), "utf8");
    expect(log).toContain("worker run-log started");
    expect(log).toContain("worker run-log stderr line");
    // What runs print is private.
    expect(statSync(backend.logPath("run-log")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "logs")).mode & 0o777).toBe(0o700);
  });

  it("never passes this process's AWS credentials to a worker", async () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = "real-secret-from-parent";
    try {
      const { backend, exited } = localBackend();
      await backend.submit(spec("run-creds"));
      await exited(1);
      expect(JSON.stringify(recorded("run-creds").env)).not.toContain("real-secret-from-parent");
    } finally {
      if (saved === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  });

  it("injects secrets from the local secrets file by ARN", async () => {
    const secretsFile = join(dir, "secrets.json");
    writeFileSync(secretsFile, JSON.stringify({ [DB_ARN]: "my-secure-password" }));
    const { backend, exited } = localBackend({ secretsFile });
    await backend.submit(spec("run-secret", {}, { DB_PASSWORD: DB_ARN }));
    await exited(1);
    expect(recorded("run-secret").env.DB_PASSWORD).toBe("my-secure-password");
  });

  it("fails the launch naming an unknown secret ARN, never a value; the run is FAILED", async () => {
    const org = newOrg();
    await registerFlow(env, org, "api_pipeline", "1.0.0");
    const secretsFile = join(dir, "secrets.json");
    writeFileSync(
      secretsFile,
      JSON.stringify({ "arn:aws:secretsmanager:us-east-1:123456789012:secret:other": "hunter2" }),
    );
    const { backend } = localBackend({ secretsFile });
    const result = await makeLauncher(env, {}, { backend }).launch({
      flowName: "api_pipeline",
      orgId: org,
      secretsEnv: { DB_PASSWORD: DB_ARN },
    });
    expect(result.success).toBe(false);
    expect(result.errorMessage).toBe(
      `secret ${DB_ARN} (for DB_PASSWORD) is not in the local secrets file ${secretsFile}`,
    );
    expect(result.errorMessage).not.toContain("hunter2");
    expect(await runsOf(env, org)).toEqual([expect.objectContaining({ status: "FAILED" })]);
  });

  it("queues beyond maxConcurrent and starts the next worker when one exits", async () => {
    const { backend, exits, exited } = localBackend({ maxConcurrent: 1 });
    const first = await backend.submit(spec("run-1", { FIXTURE_MODE: "sleep" }));
    const second = await backend.submit(spec("run-2"));
    expect([first.taskArn, second.taskArn]).toEqual(["local:run-1", "local:run-2"]);
    expect(backend.stats).toEqual({ running: 1, queued: 1, idle: 0, starting: 0, preloading: 0 });
    await until(() => existsSync(join(dir, "run-1.env.json")));
    expect(existsSync(join(dir, "run-2.env.json"))).toBe(false);
    await backend.stop(first.taskArn, "make room");
    await exited(2);
    expect(exits.map((e) => e.runId)).toEqual(["run-1", "run-2"]);
    expect(exits[0]?.exit.code).toBe(143);
    expect(existsSync(join(dir, "run-2.env.json"))).toBe(true);
  });

  it("removes a queued worker on stop without starting it", async () => {
    const { backend, exits } = localBackend({ maxConcurrent: 1 });
    await backend.submit(spec("run-a", { FIXTURE_MODE: "sleep" }));
    await backend.submit(spec("run-b"));
    await backend.stop("local:run-b", "cancelled");
    expect(exits).toEqual([
      {
        runId: "run-b",
        exit: { taskArn: "local:run-b", code: null, signal: null, neverStarted: true },
      },
    ]);
    expect(backend.stats).toEqual({ running: 1, queued: 0, idle: 0, starting: 0, preloading: 0 });
  });

  it("kills a worker that ignores SIGTERM after the grace period", async () => {
    const { backend, exited } = localBackend({ stopGraceMs: 200 });
    await backend.submit(spec("run-stubborn", { FIXTURE_MODE: "stubborn" }));
    await until(() => existsSync(join(dir, "run-stubborn.env.json")));
    await backend.stop("local:run-stubborn", "cancel");
    const [exit] = await exited(1);
    expect(exit?.exit).toEqual({ taskArn: expect.any(String), code: null, signal: "SIGKILL" });
  });

  it("close() stops every worker and leaves no process behind", async () => {
    const { backend } = localBackend({ stopGraceMs: 300 });
    await backend.submit(spec("run-x", { FIXTURE_MODE: "sleep" }));
    await backend.submit(spec("run-y", { FIXTURE_MODE: "stubborn" }));
    await until(
      () => existsSync(join(dir, "run-x.env.json")) && existsSync(join(dir, "run-y.env.json")),
    );
    const pids = [recorded("run-x").pid, recorded("run-y").pid];
    await backend.close();
    expect(pids.map(alive)).toEqual([false, false]);
    await expect(backend.submit(spec("run-z"))).rejects.toThrow("the local backend is closed");
  });

  describe("a run that cannot start fails alone; the backend keeps going", () => {
    it("a NUL byte in an env value while a worker is busy: FAILED reason, the next run starts", async () => {
      const { backend, exits, exited } = localBackend({ maxConcurrent: 1 });
      await backend.submit(spec("busy", { FIXTURE_MODE: "sleep" }));
      await backend.submit(spec("nul", { TOKEN: "secret-a\u0000b" }));
      await backend.submit(spec("after"));
      await until(() => existsSync(join(dir, "busy.env.json")));
      await backend.stop("local:busy", "make room");
      await exited(3);
      expect(exits.map((e) => e.runId)).toEqual(["busy", "nul", "after"]);
      expect(exits[1]?.exit).toEqual({
        code: null,
        signal: null,
        error: "could not start the worker: environment variable TOKEN contains a NUL byte",
      });
      // Named, never quoted: the value may be a secret.
      expect(readFileSync(backend.logPath("nul"), "utf8")).not.toContain("secret-a");
      expect(exits[2]?.exit).toEqual({ taskArn: "local:after", code: 0, signal: null });
      expect(existsSync(join(dir, "nul.env.json"))).toBe(false);
      expect(backend.stats).toEqual({ running: 0, queued: 0, idle: 0, starting: 0, preloading: 0 });
    });

    it("a NUL byte on a free slot: submit still returns, the run reports why it never started", async () => {
      const { backend, exited } = localBackend();
      await expect(backend.submit(spec("nul-now", { A: "\u0000" }))).resolves.toMatchObject({
        taskArn: "local:nul-now",
      });
      const [exit] = await exited(1);
      expect(exit?.exit.error).toMatch(/environment variable A contains a NUL byte/);
    });

    it("a NUL byte in the worker command's arguments is reported, not thrown", async () => {
      const { backend, exited } = localBackend({
        workerCommand: [process.execPath, `${FIXTURE}\u0000`],
      });
      await backend.submit(spec("nul-arg"));
      const [exit] = await exited(1);
      expect(exit?.exit.error).toBe(
        "could not start the worker: the worker command or its environment is invalid",
      );
    });

    it("a missing worker executable (ENOENT) fails the run with the reason", async () => {
      const { backend, exited } = localBackend({ workerCommand: [join(dir, "no-such-worker")] });
      await backend.submit(spec("enoent"));
      const [exit] = await exited(1);
      expect(exit?.exit.error).toMatch(/could not start the worker: .*ENOENT/);
      expect(readFileSync(backend.logPath("enoent"), "utf8")).toMatch(/ENOENT/);
    });
  });
});

describe("LocalBackend memory", () => {
  it("derives each worker's heap limit from its memory, as a container's size bounds it", () => {
    expect(heapLimitMib("512")).toBe(384);
    expect(heapLimitMib("2048")).toBe(1536);
    expect(heapLimitMib("not a size")).toBeUndefined();
  });

  it("gives a relaunched attempt its own task id", () => {
    expect(localTaskArn("r1")).toBe("local:r1");
    expect(localTaskArn("r1", 2)).toBe("local:r1:2");
    expect(runIdOfLocalTask("local:r1:2")).toBe("r1");
    expect(runIdOfLocalTask("local:r1")).toBe("r1");
  });
});
