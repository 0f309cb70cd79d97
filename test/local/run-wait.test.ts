/**
 * `GET /runs/{id}?wait_seconds=N` on the embedded platform: one request answers as the run
 * ends, woken by the local DynamoDB server's write tap (a broken tap would answer only when
 * the 20 s are over, and still QUEUED or RUNNING); a wait outside 0-20 is a 400 naming
 * `wait_seconds`; an unknown run, or another org's, is a 404 at once, not after the wait.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startLocalPlatform, type LocalPlatform } from "../../lib/local/platform";
import { defaultWorkerCommand } from "../../lib/worker/bundle";

const REPO = resolve(__dirname, "..", "..");
type Json = Record<string, unknown>;

let dataDir: string;
let platform: LocalPlatform;

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

async function launchHello(name: string): Promise<string> {
  const launched = await http("POST", "/flows/hello/runs", {
    org_id: "acme-corp",
    parameters: { name },
  });
  expect(launched.status).toBe(200);
  return launched.body.run_id as string;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "dagy-run-wait-"));
  platform = await startLocalPlatform({
    dataDir,
    cwd: REPO,
    port: 0,
    workerCommand: await defaultWorkerCommand(),
    startScheduler: false,
    stopGraceMs: 3000,
    warm: 1,
    accessLog: false,
  });
  // A warm worker ready, so the run below starts at once and its wait is about the wake-up.
  const deadline = Date.now() + 60_000;
  while (platform.backend.stats.idle < 1) {
    if (Date.now() > deadline) throw new Error("the warm pool never filled");
    await new Promise((r) => setTimeout(r, 50));
  }
}, 120_000);

afterAll(async () => {
  await platform?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("GET /runs/{id}?wait_seconds on the local platform", () => {
  it("one request with wait_seconds=20 answers SUCCEEDED as the hello run ends", async () => {
    const runId = await launchHello("wait");
    const { status, body } = await http("GET", `/runs/${runId}?wait_seconds=20`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ run_id: runId, status: "SUCCEEDED", flow_name: "hello" });
  }, 15_000);

  it("a finished run is answered as it is, whatever the wait", async () => {
    const runId = await launchHello("again");
    const first = await http("GET", `/runs/${runId}?wait_seconds=20`);
    expect(first.body.status).toBe("SUCCEEDED");
    const again = await http("GET", `/runs/${runId}?org_id=acme-corp&wait_seconds=20`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ run_id: runId, status: "SUCCEEDED" });
  }, 20_000);

  describe("a wait outside 0-20", () => {
    let runId: string;
    beforeAll(async () => {
      runId = await launchHello("bad-wait");
    }, 10_000);

    it.each(["21", "-1", "1.5", "abc", "100"])(
      "wait_seconds=%p is a 400 naming wait_seconds",
      async (value) => {
        const { status, body } = await http(
          "GET",
          `/runs/${runId}?org_id=acme-corp&wait_seconds=${encodeURIComponent(value)}`,
        );
        expect(status).toBe(400);
        expect(JSON.stringify(body)).toContain("wait_seconds");
      },
      10_000,
    );
  });

  it("an unknown run with wait_seconds=20 is a 404 at once", async () => {
    const { status } = await http(
      "GET",
      "/runs/00000000-0000-4000-8000-000000000000?wait_seconds=20",
    );
    expect(status).toBe(404);
  }, 10_000);

  it("another org's run with wait_seconds=20 is a 404 at once", async () => {
    const runId = await launchHello("other-org");
    const { status } = await http("GET", `/runs/${runId}?org_id=other-org&wait_seconds=20`);
    expect(status).toBe(404);
  }, 10_000);
});
