/**
 * The routes every client (CLI, console, scripts) uses instead of the stores: register a flow
 * version through a presigned S3 PUT and a commit, push a dependency package the same way, set
 * and list deployments, read a flow version's spec, a run's log from a position and its
 * traceback — over real HTTP against the embedded platform (dynalite, s3rver, workers).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { zipSync } from "fflate";
import { buildFlow } from "../../lib/bundler/build";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");
type Json = Record<string, unknown>;

let platform: LocalPlatform;
let dataDir: string;

async function http(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${platform.url}${path}`, {
    method,
    ...(body !== undefined
      ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
      : {}),
  });
  return { status: response.status, body: (await response.json()) as Json };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function put(upload: Json, bytes: Uint8Array): Promise<number> {
  const response = await fetch(upload.upload_url as string, {
    method: "PUT",
    headers: upload.upload_headers as Record<string, string>,
    body: bytes,
  });
  await response.arrayBuffer();
  return response.status;
}

async function waitTerminal(runId: string): Promise<Json> {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const { body } = await http("GET", `/runs/${runId}?org_id=acme-corp`);
    if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(body.status as string)) return body;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} did not finish: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "dagy-routes-"));
  platform = await startLocalPlatform({
    dataDir,
    cwd: REPO,
    port: 0,
    workerCommand: await defaultWorkerCommand(),
    startScheduler: false,
    registerExamples: false,
  });
});

afterAll(async () => {
  await platform?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("registering a flow version over HTTP", () => {
  let artifact: Uint8Array;

  beforeAll(async () => {
    artifact = (await buildFlow({ entry: "examples/flows/hello.ts", cwd: REPO, version: "2.0.0" }))
      .artifact;
  });

  it("uploads through a presigned PUT, commits, and the version is listed and launchable", async () => {
    const upload = await http("POST", "/flows/hello/versions/uploads", {
      org_id: "acme-corp",
      version: "2.0.0",
      sha256: sha256(artifact),
      size: artifact.length,
    });
    expect(upload.status).toBe(200);
    expect(upload.body.upload_headers).toEqual({
      "x-amz-checksum-sha256": Buffer.from(sha256(artifact), "hex").toString("base64"),
    });
    expect(await put(upload.body, artifact)).toBe(200);

    const commit = await http("POST", "/flows/hello/versions", {
      org_id: "acme-corp",
      version: "2.0.0",
      upload_id: upload.body.upload_id,
    });
    expect(commit.status).toBe(200);
    expect(commit.body).toMatchObject({
      flow_name: "hello",
      flow_version: "2.0.0",
      artifact_sha256: sha256(artifact),
    });

    const spec = await http("GET", "/flows/hello/versions/latest?org_id=acme-corp");
    expect(spec.status).toBe(200);
    expect(spec.body).toMatchObject({ flow_name: "hello", version: "2.0.0" });
    expect((spec.body.flow_spec as Json).name).toBe("hello");

    const launch = await http("POST", "/flows/hello/runs", { org_id: "acme-corp" });
    expect(launch.body.success).toBe(true);
    const run = await waitTerminal(launch.body.run_id as string);
    expect(run).toMatchObject({ status: "SUCCEEDED", flow_version: "2.0.0" });
  });

  it("refuses a commit of bytes other than the flow it names, recording nothing", async () => {
    const other = zipSync({ "flow_spec.json": Buffer.from('{"name":"other","version":"2.0.1"}') });
    const upload = await http("POST", "/flows/hello/versions/uploads", {
      org_id: "acme-corp",
      version: "2.0.1",
      sha256: sha256(other),
      size: other.length,
    });
    expect(await put(upload.body, other)).toBe(200);
    const commit = await http("POST", "/flows/hello/versions", {
      org_id: "acme-corp",
      version: "2.0.1",
      upload_id: upload.body.upload_id,
    });
    expect(commit.status).toBe(422);
    expect(commit.body).toMatchObject({ code: "artifact_invalid" });
    expect(commit.body.error).toMatch(/flow_spec\.json is other 2\.0\.1, but hello 2\.0\.1/);
    const versions = await http("GET", "/flows/hello/versions?org_id=acme-corp");
    const names = (versions.body.versions as Json[]).map((v) => v.flow_version);
    expect(names).not.toContain("2.0.1");
  });

  it("refuses another org's upload id: the upload is bound to the org that asked for it", async () => {
    const upload = await http("POST", "/flows/hello/versions/uploads", {
      org_id: "acme-corp",
      version: "2.0.2",
      sha256: sha256(artifact),
      size: artifact.length,
    });
    await put(upload.body, artifact);
    const commit = await http("POST", "/flows/hello/versions", {
      org_id: "evil-corp",
      version: "2.0.0",
      upload_id: upload.body.upload_id,
    });
    expect(commit.status).toBe(400);
    expect(commit.body.error).toMatch(/^upload_id: nothing was uploaded under this id/);
  });

  it("refuses a version that exists with other bytes before handing out an upload URL", async () => {
    const response = await http("POST", "/flows/hello/versions/uploads", {
      org_id: "acme-corp",
      version: "2.0.0",
      sha256: "0".repeat(64),
      size: 10,
    });
    expect(response.status).toBe(409);
    expect(response.body).toMatchObject({ code: "conflict" });
  });

  it.each([
    [{ version: "2.0.3", sha256: "xyz", size: 1 }, /^sha256: must be 64 lower-case hex digits/],
    [{ version: "2.0.3", sha256: "a".repeat(64), size: 0 }, /^size: must be a positive/],
    [{ version: "2.0.3", sha256: "a".repeat(64), size: 1, extra: 1 }, /unknown field extra/],
  ])("answers 400 naming the field for %j", async (body, message) => {
    const response = await http("POST", "/flows/hello/versions/uploads", {
      org_id: "acme-corp",
      ...body,
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(message);
  });
});

describe("dependency packages and deployments over HTTP", () => {
  it("pushes a package, sets a deployment naming it, and lists both", async () => {
    const archive = zipSync({ "node_modules/left-pad/index.js": Buffer.from("module.exports=1") });
    const upload = await http("POST", "/dep-packages/uploads", {
      org_id: "acme-corp",
      name: "left-pad",
      version: "1.0.0",
      format: "zip",
      sha256: sha256(archive),
      size: archive.length,
    });
    expect(upload.status).toBe(200);
    expect(await put(upload.body, archive)).toBe(200);
    const commit = await http("POST", "/dep-packages", {
      org_id: "acme-corp",
      name: "left-pad",
      version: "1.0.0",
      format: "zip",
      upload_id: upload.body.upload_id,
    });
    expect(commit.status).toBe(200);
    expect(commit.body).toMatchObject({ name: "left-pad", sha256: sha256(archive) });

    const deployment = await http("PUT", "/deployments/prod", {
      org_id: "acme-corp",
      packages: ["left-pad"],
    });
    expect(deployment.status).toBe(200);
    expect((await http("GET", "/deployments?org_id=acme-corp")).body.deployments).toEqual([
      expect.objectContaining({ name: "prod", packages: ["left-pad"] }),
    ]);
    expect((await http("GET", "/dep-packages?org_id=acme-corp")).body.packages).toEqual([
      expect.objectContaining({ name: "left-pad", version: "1.0.0" }),
    ]);
  });

  it("refuses a deployment naming a package that does not exist, writing nothing", async () => {
    const response = await http("PUT", "/deployments/staging", {
      org_id: "acme-corp",
      packages: ["no-such-package"],
    });
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ code: "dep_package_not_found" });
    const list = (await http("GET", "/deployments?org_id=acme-corp")).body.deployments as Json[];
    expect(list.map((d) => d.name)).not.toContain("staging");
  });
});

describe("a run's log and traceback over HTTP", () => {
  let failedRun: string;

  beforeAll(async () => {
    const artifact = (await buildFlow({ entry: "test/local/flows/failing.ts", cwd: REPO }))
      .artifact;
    const spec = await import("../../lib/persistence/registry");
    const { persistence, store } = platform;
    await spec.registerFlow({
      persistence,
      store,
      artifactBucket: platform.buckets.artifacts,
      orgId: "acme-corp",
      spec: spec.readArtifactSpec(Buffer.from(artifact)),
      artifact: Buffer.from(artifact),
    });
    const launch = await http("POST", "/flows/failing/runs", { org_id: "acme-corp" });
    failedRun = launch.body.run_id as string;
    await waitTerminal(failedRun);
  });

  it("reads the log from the start, then from next_position, and says when it is complete", async () => {
    const first = await http("GET", `/runs/${failedRun}/logs?org_id=acme-corp`);
    expect(first.status).toBe(200);
    const events = first.body.events as Json[];
    expect(events.map((e) => e.event_type)).toEqual(expect.arrayContaining(["run_started"]));
    expect(events.every((e) => e.run_id === failedRun)).toBe(true);
    expect(first.body.complete).toBe(true);
    const again = await http(
      "GET",
      `/runs/${failedRun}/logs?org_id=acme-corp&position=${String(first.body.next_position)}`,
    );
    expect(again.body).toMatchObject({ events: [], complete: true });
  });

  it("filters the log by task", async () => {
    const response = await http("GET", `/runs/${failedRun}/logs?org_id=acme-corp&task_id=explode`);
    const events = response.body.events as Json[];
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.task_id === "explode")).toBe(true);
  });

  it("returns the traceback of the failed run", async () => {
    const response = await http("GET", `/runs/${failedRun}/traceback?org_id=acme-corp`);
    expect(response.status).toBe(200);
    expect(response.body.traceback).toMatch(/explode: cannot handle 3 rows/);
  });

  it("answers the guide's 404 for another org's run", async () => {
    const response = await http("GET", `/runs/${failedRun}/logs?org_id=evil-corp`);
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: "Run not found" });
  });

  it("answers 400 naming position for a position that was never returned", async () => {
    const response = await http("GET", `/runs/${failedRun}/logs?org_id=acme-corp&position=abc`);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/^position: /);
  });
});
