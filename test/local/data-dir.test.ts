/**
 * The local data directory: a manifest of what the stores hold, refusal to start on damaged or
 * missing stores (instead of starting empty), `reset` to start afresh, private permissions.
 */
import { existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { DeleteObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { createDataClients, destroyDataClients } from "../../lib/aws/clients";
import { ConfigurationError } from "../../lib/errors";
import { startLocalPlatform, type LocalPlatformOptions } from "../../lib/local/platform";
import { startLocalServers } from "../../lib/local/servers";
import { MANIFEST_FILE, readDataManifest } from "../../lib/local/state";

let dataDir: string;

const start = (extra: Partial<LocalPlatformOptions> = {}) =>
  startLocalPlatform({
    dataDir,
    cwd: dataDir,
    port: 0,
    registerExamples: false,
    startScheduler: false,
    workerCommand: [process.execPath, "-e", ""],
    ...extra,
  });

/** Starts a platform, lets `use` put data in it, and stops it. */
async function populated(use?: (p: Awaited<ReturnType<typeof start>>) => Promise<void>) {
  const platform = await start();
  await platform.persistence.deployments.put({
    org_id: "acme-corp",
    deployment_name: "production",
    environment: "production",
    dep_package_slugs: [],
    updated_at: new Date().toISOString(),
  });
  await platform.store.put(`s3://${platform.buckets.artifacts}/flows/x/1/artifact.zip`, "zip");
  await use?.(platform);
  await platform.close();
}

/**
 * Every path under the data directory and the manifest's text, to show a refusal changed
 * nothing. LevelDB's own files are left out: opening a store compacts it (same data, new file
 * names).
 */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const manifest = await readFile(join(dir, MANIFEST_FILE), "utf8").catch(() => "(none)");
  return [
    ...entries.filter((e) => !e.startsWith("dynamodb/") || e === "dynamodb/CURRENT").sort(),
    manifest,
  ];
}

async function refusal(): Promise<ConfigurationError> {
  const before = await tree(dataDir);
  const error = (await start().then(
    async (p) => {
      await p.close();
      throw new Error("the platform started on damaged data");
    },
    (e: unknown) => e,
  )) as ConfigurationError;
  expect(error).toBeInstanceOf(ConfigurationError);
  expect(error.message).toMatch(/is damaged: missing .*Refusing to start with empty stores/);
  expect(error.message).toContain("--reset");
  // Nothing was created in place of what is missing.
  expect(await tree(dataDir)).toEqual(before);
  return error;
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "dagy-data-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("local data directory", () => {
  it("records what the stores hold in a manifest, with private permissions", async () => {
    await populated();
    const manifest = readDataManifest(dataDir)!;
    expect(manifest.tables["dagy-local-deployments"]).toBe(1);
    expect(manifest.buckets["dagy-local-artifacts"]).toBe(1);
    expect(Object.keys(manifest.tables)).toEqual(expect.arrayContaining(["dagy-local-runs"]));
    const mode = (path: string) => statSync(join(dataDir, path)).mode & 0o777;
    for (const dir of [".", "dynamodb", "s3", "logs"])
      expect([dir, mode(dir)]).toEqual([dir, 0o700]);
    for (const file of [MANIFEST_FILE, "secrets.json"]) {
      expect([file, mode(file)]).toEqual([file, 0o600]);
    }
    // And a restart accepts its own data.
    const again = await start();
    expect(await again.persistence.deployments.get("acme-corp", "production")).toBeDefined();
    await again.close();
  });

  it("refuses to start when dynamodb/ was deleted, naming it", async () => {
    await populated();
    await rm(join(dataDir, "dynamodb"), { recursive: true });
    expect((await refusal()).message).toContain("dynamodb/ (the DynamoDB store)");
  });

  it("refuses to start when a bucket folder was deleted, naming the bucket", async () => {
    await populated();
    await rm(join(dataDir, "s3", "dagy-local-artifacts"), { recursive: true });
    const error = await refusal();
    expect(error.message).toContain("s3/dagy-local-artifacts/ (bucket)");
    expect(error.message).not.toContain("dagy-local-traces");
  });

  it("refuses to start when all of s3/ was deleted, naming both buckets", async () => {
    await populated();
    await rm(join(dataDir, "s3"), { recursive: true });
    const error = await refusal();
    expect(error.message).toContain("s3/dagy-local-artifacts/");
    expect(error.message).toContain("s3/dagy-local-traces/");
  });

  it("refuses to start when a table or a bucket's objects vanished behind its back", async () => {
    await populated();
    // Out of band, as a partial deletion would: the manifest is not told.
    const servers = await startLocalServers({ dataDir });
    const clients = createDataClients({
      region: "us-east-1",
      dynamodbEndpoint: servers.dynamodbEndpoint,
      s3Endpoint: servers.s3Endpoint,
    });
    await clients.dynamodb.send(new DeleteTableCommand({ TableName: "dagy-local-deployments" }));
    const listed = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: "dagy-local-artifacts" }),
    );
    for (const object of listed.Contents ?? []) {
      await clients.s3.send(
        new DeleteObjectCommand({ Bucket: "dagy-local-artifacts", Key: object.Key! }),
      );
    }
    destroyDataClients(clients);
    await servers.close();
    const error = await refusal();
    expect(error.message).toContain("table dagy-local-deployments");
    expect(error.message).toContain("the 1 objects of bucket dagy-local-artifacts");
  });

  it("refuses an unreadable manifest, naming it", async () => {
    await populated();
    await writeFile(join(dataDir, MANIFEST_FILE), "{ not json");
    expect((await refusal()).message).toContain("manifest.json (unreadable");
  });

  it("refuses data left without its DynamoDB store even when there is no manifest", async () => {
    await mkdir(join(dataDir, "s3", "dagy-local-artifacts"), { recursive: true });
    await writeFile(join(dataDir, "schedules.json"), '{"version":1,"schedules":[]}');
    expect((await refusal()).message).toContain(
      "dynamodb/ (the DynamoDB store; s3 and schedules.json remain)",
    );
  });

  it("adopts a data directory from before manifests", async () => {
    await populated();
    await rm(join(dataDir, MANIFEST_FILE));
    const platform = await start();
    expect(await platform.persistence.deployments.get("acme-corp", "production")).toBeDefined();
    await platform.close();
    expect(readDataManifest(dataDir)?.tables["dagy-local-deployments"]).toBe(1);
  });

  it("reset starts afresh explicitly, keeping secrets.json", async () => {
    await populated();
    await writeFile(join(dataDir, "secrets.json"), '{"arn:aws:secretsmanager:x": "kept"}');
    await rm(join(dataDir, "dynamodb"), { recursive: true });
    await refusal();
    const platform = await start({ reset: true });
    expect(await platform.persistence.deployments.get("acme-corp", "production")).toBeUndefined();
    await platform.close();
    expect(await readFile(join(dataDir, "secrets.json"), "utf8")).toContain("kept");
    expect(existsSync(join(dataDir, "dynamodb", "CURRENT"))).toBe(true);
  });

  it("a table emptied while the platform runs is recorded at shutdown, not taken for damage", async () => {
    await populated(async (platform) => {
      await platform.clients.doc.send(
        new DeleteCommand({
          TableName: platform.tables.deployments,
          Key: { org_id: "acme-corp", deployment_name: "production" },
        }),
      );
    });
    expect(readDataManifest(dataDir)?.tables["dagy-local-deployments"]).toBe(0);
    const platform = await start();
    await platform.close();
  });
});
