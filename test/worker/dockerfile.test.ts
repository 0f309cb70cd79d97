/**
 * Dockerfile.worker, checked without Docker (it cannot run here): every COPY source exists or
 * is produced by the build step, the build step is the real script, the image is Node 22 and
 * non-root, and the very bundle that step produces runs a flow end to end from a directory
 * with no node_modules, as in the image.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { buildFlow } from "../../lib/bundler";
import { RunRepository } from "../../lib/persistence/runs";
import { ObjectStore, sha256Hex } from "../../lib/storage";
import { WORKER_BUNDLE_FILE } from "../../lib/worker/bundle";
import { EXIT_CODES } from "../../lib/worker/run-host";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { REPO_ROOT } from "./support";

const run = promisify(execFile);

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly stage: number;
}

function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, " ");
  const out: Instruction[] = [];
  let stage = -1;
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    if (keyword === "FROM") stage++;
    out.push({ keyword, args: match[2]!.replace(/\s+#.*$/, "").trim(), stage });
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, "Dockerfile.worker"), "utf8"));
const dockerignore = readFileSync(path.join(REPO_ROOT, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));

/** COPY's flags, sources and destination. */
function parseCopy(args: string): { from?: string; sources: string[]; dest: string } {
  const parts = args.split(/\s+/);
  const flags = parts.filter((p) => p.startsWith("--"));
  const rest = parts.filter((p) => !p.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return {
    ...(from !== undefined ? { from } : {}),
    sources: rest.slice(0, -1),
    dest: rest.at(-1)!,
  };
}

describe("Dockerfile.worker", () => {
  const froms = dockerfile.filter((i) => i.keyword === "FROM");
  const finalStage = froms.length - 1;

  it("builds on Node 22 slim images, the build stage on the builder's own platform", () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const image = from.args.split(/\s+/).find((p) => !p.startsWith("--"));
      expect(image).toBe("node:22-bookworm-slim");
    }
    expect(froms[0]!.args).toMatch(/^--platform=\$BUILDPLATFORM node:22-bookworm-slim AS build$/);
    // Nothing architecture-specific anywhere: the same file builds ARM64 and x86-64.
    const all = dockerfile.map((i) => i.args).join("\n");
    expect(all).not.toMatch(/amd64|arm64|x86_64|aarch64/);
  });

  it("copies only files that exist in the repository and are not excluded by .dockerignore", () => {
    const copies = dockerfile
      .filter((i) => i.keyword === "COPY")
      .map((i) => parseCopy(i.args))
      .filter((c) => c.from === undefined);
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      for (const source of copy.sources) {
        expect({ source, exists: existsSync(path.join(REPO_ROOT, source)) }).toEqual({
          source,
          exists: true,
        });
        const top = source.split("/")[0]!;
        expect({ source, ignored: dockerignore.includes(top) }).toEqual({ source, ignored: false });
      }
    }
  });

  it("ships exactly the bundle its build step produces, run by node as a non-root user", () => {
    const buildRun = dockerfile.find(
      (i) => i.keyword === "RUN" && i.args.includes("scripts/build-worker.ts"),
    );
    expect(buildRun?.stage).toBe(0);
    const outDir = /--out\s+(\S+)/.exec(buildRun!.args)?.[1];
    expect(outDir).toBeDefined();

    const shipped = dockerfile
      .filter((i) => i.keyword === "COPY" && i.stage === finalStage)
      .map((i) => parseCopy(i.args));
    expect(shipped).toEqual([
      {
        from: "build",
        sources: [path.posix.join(outDir!, WORKER_BUNDLE_FILE)],
        dest: "/app/worker.js",
      },
    ]);

    const entrypoint = dockerfile.filter((i) => i.keyword === "ENTRYPOINT").at(-1);
    expect(JSON.parse(entrypoint!.args)).toEqual(["node", "/app/worker.js"]);

    const users = dockerfile.filter((i) => i.keyword === "USER" && i.stage === finalStage);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.args).not.toMatch(/^(root|0)(:|$)/);
  });

  describe("the bundle its build step produces", () => {
    let env: TestEnv;
    let dir: string;

    beforeAll(async () => {
      env = await startTestEnv();
      dir = mkdtempSync(path.join(tmpdir(), "dagy-image-"));
    }, 60_000);
    afterAll(async () => {
      await env?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("runs a flow end to end from a folder with no node_modules", async () => {
      // The Dockerfile's RUN line, with a local output folder; then the image's layout.
      const dist = path.join(dir, "dist");
      await run("npx", ["tsx", "scripts/build-worker.ts", "--out", dist, "--force"], {
        cwd: REPO_ROOT,
      });
      const app = path.join(dir, "app");
      mkdirSync(app);
      const workerJs = path.join(app, WORKER_BUNDLE_FILE);
      copyFileSync(path.join(dist, WORKER_BUNDLE_FILE), workerJs);

      const { artifact, spec } = await buildFlow({
        entry: "examples/flows/hello.ts",
        cwd: REPO_ROOT,
      });
      const uri = `s3://${env.buckets.artifacts}/flows/${spec.name}/${spec.version}/artifact.zip`;
      await new ObjectStore(env.clients.s3).put(uri, artifact);
      const runs = new RunRepository(env.clients.doc, env.tables.runs);
      const now = new Date().toISOString();
      await runs.create({
        run_id: "image-run",
        org_id: "acme",
        flow_name: spec.name,
        flow_version: spec.version,
        status: "QUEUED",
        environment: "test",
        correlation_id: "image-run",
        trigger_source: "test",
        artifact_s3_uri: uri,
        artifact_sha256: sha256Hex(artifact),
        dep_package_uris: [],
        secret_names: [],
        created_at: now,
        updated_at: now,
      });

      const result = await run(process.execPath, [workerJs], {
        cwd: app,
        env: {
          PATH: process.env.PATH ?? "",
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "local",
          AWS_SECRET_ACCESS_KEY: "local",
          DAGY_RUN_ID: "image-run",
          DAGY_ORG_ID: "acme",
          DAGY_FLOW_NAME: spec.name,
          DAGY_FLOW_VERSION: spec.version,
          DAGY_ARTIFACT_URI: uri,
          DAGY_ARTIFACT_SHA256: sha256Hex(artifact),
          DAGY_ENVIRONMENT: "test",
          DAGY_CORRELATION_ID: "image-run",
          DAGY_PARAMETERS: JSON.stringify({ name: "image" }),
          DAGY_RUNS_TABLE: env.tables.runs,
          DAGY_TRACES_BUCKET: env.buckets.traces,
          DAGY_DYNAMODB_ENDPOINT: env.endpoints.dynamodbEndpoint,
          DAGY_S3_ENDPOINT: env.endpoints.s3Endpoint,
        },
      });
      expect(result.stdout).toContain("Hello, image!");
      const record = await runs.get("image-run");
      expect(record?.status).toBe("SUCCEEDED");
      expect(record?.exit_code).toBe(EXIT_CODES.succeeded);
    });
  });
});
