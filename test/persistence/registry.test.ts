import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { ArtifactError, ConflictError, ValidationError } from "../../lib/errors";
import { Persistence } from "../../lib/persistence/persistence";
import { registerDepPackage, registerFlow } from "../../lib/persistence/registry";
import type { FlowSpec } from "../../lib/sdk/types";
import { createZip } from "../../lib/storage/archive";
import { sha256Hex } from "../../lib/hash";
import { ObjectStore } from "../../lib/storage/object-store";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { tarGz } from "../storage/tar-fixtures";
import { uniqueOrg } from "./fixtures";

let env: TestEnv;
let persistence: Persistence;
let store: ObjectStore;

beforeAll(async () => {
  env = await startTestEnv();
  persistence = new Persistence(env.clients.doc, env.tables);
  store = new ObjectStore(env.clients.s3);
});
afterAll(() => env.close());

function spec(name: string, version: string): FlowSpec {
  return { spec_version: 1, name, version, parameters: {}, tasks: [], edges: [] };
}
function artifact(s: FlowSpec, source = "exports.tasks = {};"): Buffer {
  return createZip({
    "flow_spec.json": JSON.stringify(s),
    "metadata.json": JSON.stringify({ name: s.name, version: s.version }),
    "flow.js": source,
  });
}

async function s3Object(key: string): Promise<Buffer> {
  const out = await env.clients.s3.send(
    new GetObjectCommand({ Bucket: env.buckets.artifacts, Key: key }),
  );
  return Buffer.from(await out.Body!.transformToByteArray());
}

describe("registerFlow", () => {
  it("uploads to flows/<flow>/<version>/artifact.zip and records the sha256", async () => {
    const org = uniqueOrg();
    const s = spec(`etl_${org.replace(/-/g, "_")}`, "1.0.0");
    const bytes = artifact(s);
    const record = await registerFlow({
      persistence,
      store,
      artifactBucket: env.buckets.artifacts,
      orgId: org,
      spec: s,
      artifact: bytes,
      description: "nightly ETL",
    });
    const key = `flows/${s.name}/1.0.0/artifact.zip`;
    expect(record).toMatchObject({
      org_id: org,
      flow_name: s.name,
      flow_version: "1.0.0",
      artifact_s3_uri: `s3://${env.buckets.artifacts}/${key}`,
      artifact_sha256: sha256Hex(bytes),
      is_semver: true,
      description: "nightly ETL",
    });
    expect(JSON.parse(record.spec)).toEqual(s);
    expect((await s3Object(key)).equals(bytes)).toBe(true);
    expect(await persistence.flows.get(org, s.name, "1.0.0")).toEqual(record);
  });

  it("same bytes again returns the existing record; other bytes are refused and nothing is written", async () => {
    const org = uniqueOrg();
    const s = spec(`f_${org.replace(/-/g, "_")}`, "2.0.0");
    const first = artifact(s);
    const opts = { persistence, store, artifactBucket: env.buckets.artifacts, orgId: org, spec: s };
    const record = await registerFlow({ ...opts, artifact: first });
    expect(await registerFlow({ ...opts, artifact: first })).toEqual(record);

    const changed = artifact(s, "exports.tasks = { changed: true };");
    await expect(registerFlow({ ...opts, artifact: changed })).rejects.toThrow(ConflictError);
    await expect(registerFlow({ ...opts, artifact: changed })).rejects.toThrow(
      /register a new version/,
    );
    expect((await s3Object(`flows/${s.name}/2.0.0/artifact.zip`)).equals(first)).toBe(true);
  });

  it("two concurrent registrations of one version with different bytes: one wins, its bytes stay", async () => {
    const org = uniqueOrg();
    const s = spec(`race_${org.replace(/-/g, "_")}`, "1.0.0");
    const a = artifact(s, "a");
    const b = artifact(s, "b");
    const opts = { persistence, store, artifactBucket: env.buckets.artifacts, orgId: org, spec: s };
    const results = await Promise.allSettled([
      registerFlow({ ...opts, artifact: a }),
      registerFlow({ ...opts, artifact: b }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<{ artifact_sha256: string }>).value;
    const stored = await s3Object(`flows/${s.name}/1.0.0/artifact.zip`);
    expect(sha256Hex(stored)).toBe(winner.artifact_sha256);
  });

  it("refuses to replace another org's artifact under the shared key", async () => {
    const s = spec(`shared_name_${process.pid}`, "1.0.0");
    const opts = { persistence, store, artifactBucket: env.buckets.artifacts, spec: s };
    await registerFlow({ ...opts, orgId: uniqueOrg(), artifact: artifact(s, "first org") });
    await expect(
      registerFlow({ ...opts, orgId: uniqueOrg(), artifact: artifact(s, "second org") }),
    ).rejects.toThrow(/holds flow .* of another organization/);
  });

  it("checks the artifact is a zip whose flow_spec.json matches the spec", async () => {
    const org = uniqueOrg();
    const opts = { persistence, store, artifactBucket: env.buckets.artifacts, orgId: org };
    await expect(
      registerFlow({ ...opts, spec: spec("etl", "1.0.0"), artifact: Buffer.from("not a zip") }),
    ).rejects.toThrow(ArtifactError);
    await expect(
      registerFlow({
        ...opts,
        spec: spec("etl", "1.0.0"),
        artifact: artifact(spec("etl", "1.0.1")),
      }),
    ).rejects.toThrow(/flow_spec.json is etl 1.0.1, but etl 1.0.0 is being registered/);
    await expect(
      registerFlow({ ...opts, spec: spec("etl", "1.0.0"), artifact: createZip({ "flow.js": "" }) }),
    ).rejects.toThrow(/no flow_spec.json/);
  });
});

describe("registerDepPackage", () => {
  it("uploads zip and tar.gz packages to dep-packages/<slug>.<ext> and records their sha256", async () => {
    const org = uniqueOrg();
    const zip = createZip({ "custom_module/helpers.js": "exports.helper = () => 1;" });
    const slug = `my-deps-${process.pid}`;
    const record = await registerDepPackage({
      persistence,
      store,
      artifactBucket: env.buckets.artifacts,
      orgId: org,
      slug,
      version: "1.0.0",
      archive: zip,
      format: "zip",
    });
    expect(record).toMatchObject({
      slug,
      org_id: org,
      version: "1.0.0",
      package_s3_uri: `s3://${env.buckets.artifacts}/dep-packages/${slug}.zip`,
      sha256: sha256Hex(zip),
    });
    expect((await s3Object(`dep-packages/${slug}.zip`)).equals(zip)).toBe(true);
    expect(await persistence.depPackages.get(slug)).toEqual(record);

    const tgz = tarGz([{ path: "lib/index.js", body: "module.exports = 1;" }]);
    const tarRecord = await registerDepPackage({
      persistence,
      store,
      artifactBucket: env.buckets.artifacts,
      orgId: org,
      slug: `${slug}-tar`,
      version: "2.0.0",
      archive: tgz,
      format: "tar.gz",
      sharedWith: ["*"],
    });
    expect(tarRecord.package_s3_uri).toBe(
      `s3://${env.buckets.artifacts}/dep-packages/${slug}-tar.tar.gz`,
    );
    expect(tarRecord.shared_with).toEqual(["*"]);
  });

  it.each([
    [
      "a tar.gz whose links, each inside, chain outside",
      () =>
        tarGz([
          { path: "x/", type: "5" },
          { path: "x/up", type: "2", linkpath: ".." },
          { path: "x/out", type: "2", linkpath: "up/.." },
        ]),
      "tar.gz" as const,
      /"x\/out": symbolic link .* outside/,
    ],
    [
      "a tar.gz with a hard link",
      () =>
        tarGz([
          { path: "a.js", body: "x" },
          { path: "b.js", type: "1" as const, linkpath: "a.js" },
        ]),
      "tar.gz" as const,
      /"b.js": hard link/,
    ],
    [
      "a zip declaring a 1,000,000:1 ratio",
      () => {
        const zip = createZip({ "bomb.bin": Buffer.alloc(10) });
        zip.writeUInt32LE(100 * 1024 * 1024, zip.indexOf(Buffer.from([0x50, 0x4b, 1, 2])) + 24);
        return zip;
      },
      "zip" as const,
      /"bomb.bin" has a compression ratio over the limit of 1000:1/,
    ],
    [
      "a zip with a ../ entry",
      () => {
        const zip = createZip({ "aa/evil.js": "x" });
        const name = zip.indexOf(
          Buffer.from("aa/evil.js"),
          zip.indexOf(Buffer.from([0x50, 0x4b, 1, 2])),
        );
        zip.write("../evil.js", name);
        return zip;
      },
      "zip" as const,
      /"\.\.\/evil\.js".*'\.\.'/,
    ],
  ])(
    "refuses %s at push time, naming the entry, storing nothing",
    async (_what, make, format, message) => {
      const slug = `hostile-${format.replace(".", "")}-${Math.random().toString(36).slice(2, 8)}`;
      const error = (await registerDepPackage({
        persistence,
        store,
        artifactBucket: env.buckets.artifacts,
        orgId: uniqueOrg(),
        slug,
        version: "1.0.0",
        archive: make(),
        format,
      }).catch((e: unknown) => e)) as ValidationError;
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.field).toBe("archive");
      expect(error.message).toMatch(/^archive refused: /);
      expect(error.message).toMatch(message);
      expect(await persistence.depPackages.get(slug)).toBeUndefined();
      await expect(
        s3Object(`dep-packages/${slug}.${format === "zip" ? "zip" : "tar.gz"}`),
      ).rejects.toThrow();
    },
  );

  it("refuses another org's slug before uploading anything", async () => {
    const slug = `taken-${process.pid}`;
    const original = createZip({ "a.js": "original" });
    const opts = {
      persistence,
      store,
      artifactBucket: env.buckets.artifacts,
      slug,
      version: "1.0.0",
      format: "zip" as const,
    };
    await registerDepPackage({ ...opts, orgId: uniqueOrg(), archive: original });
    await expect(
      registerDepPackage({ ...opts, orgId: uniqueOrg(), archive: createZip({ "a.js": "hijack" }) }),
    ).rejects.toThrow(ConflictError);
    expect((await s3Object(`dep-packages/${slug}.zip`)).equals(original)).toBe(true);
  });

  it("refuses bytes that are not of the declared format", async () => {
    await expect(
      registerDepPackage({
        persistence,
        store,
        artifactBucket: env.buckets.artifacts,
        orgId: uniqueOrg(),
        slug: "wrong-format",
        version: "1.0.0",
        archive: createZip({ a: "b" }),
        format: "tar.gz",
      }),
    ).rejects.toThrow(ValidationError);
  });
});

it("uploads carry the owner and sha256 as object metadata", async () => {
  const org = uniqueOrg();
  const s = spec(`meta_${org.replace(/-/g, "_")}`, "1.0.0");
  const bytes = artifact(s);
  await registerFlow({
    persistence,
    store,
    artifactBucket: env.buckets.artifacts,
    orgId: org,
    spec: s,
    artifact: bytes,
  });
  const head = await env.clients.s3.send(
    new HeadObjectCommand({
      Bucket: env.buckets.artifacts,
      Key: `flows/${s.name}/1.0.0/artifact.zip`,
    }),
  );
  expect(head.Metadata).toEqual({ "org-id": org, sha256: sha256Hex(bytes) });
});
