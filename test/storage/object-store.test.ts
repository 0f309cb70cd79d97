import { ConflictError, NotFoundError, ValidationError } from "../../lib/errors";
import { artifactKey, depPackageKey, runParametersKey, tracebackKey } from "../../lib/storage/keys";
import { sha256Hex } from "../../lib/hash";
import { ObjectStore } from "../../lib/storage/object-store";
import { formatS3Uri, parseS3Uri } from "../../lib/storage/s3-uri";
import { startTestEnv, type TestEnv } from "../support/local-servers";

describe("parseS3Uri", () => {
  it("splits bucket and key", () => {
    expect(parseS3Uri("s3://my-bucket/flows/etl/1.0.0/artifact.zip")).toEqual({
      bucket: "my-bucket",
      key: "flows/etl/1.0.0/artifact.zip",
    });
    expect(formatS3Uri("my-bucket", "a/b.txt")).toBe("s3://my-bucket/a/b.txt");
  });

  it.each([
    ["https://my-bucket.s3.amazonaws.com/key", /is not an S3 URI: expected s3:\/\/<bucket>\/<key>/],
    ["s3:///key", /has no bucket/],
    ["s3://my-bucket", /has no object key/],
    ["s3://my-bucket/", /has no object key/],
    ["s3://My_Bucket/key", /is not a valid S3 bucket name/],
    ["s3://ab/key", /is not a valid S3 bucket name/],
    ["s3://192.168.1.1/key", /is not a valid S3 bucket name/],
  ])("rejects %s", (uri, message) => {
    expect(() => parseS3Uri(uri, "package_s3_uri")).toThrow(ValidationError);
    expect(() => parseS3Uri(uri, "package_s3_uri")).toThrow(message);
    try {
      parseS3Uri(uri, "package_s3_uri");
    } catch (error) {
      expect((error as ValidationError).field).toBe("package_s3_uri");
    }
  });
});

describe("key layout", () => {
  it("follows the guide's S3 keys", () => {
    expect(artifactKey("etl_pipeline", "1.0.0")).toBe("flows/etl_pipeline/1.0.0/artifact.zip");
    expect(depPackageKey("my-deps", "zip")).toBe("dep-packages/my-deps.zip");
    expect(depPackageKey("my-deps", "tar.gz")).toBe("dep-packages/my-deps.tar.gz");
    expect(tracebackKey("acme-corp", "run-123")).toBe("exceptions/acme-corp/run-123/traceback.txt");
    expect(runParametersKey("acme-corp", "run-123")).toBe(
      "run-inputs/acme-corp/run-123/parameters.json",
    );
  });

  it("refuses components that would change the layout", () => {
    expect(() => artifactKey("etl/../other", "1.0.0")).toThrow(ValidationError);
    expect(() => tracebackKey("acme-corp", "../run")).toThrow(/run_id/);
    expect(() => depPackageKey("My Deps", "zip")).toThrow(/slug/);
  });
});

describe("ObjectStore against s3rver", () => {
  let env: TestEnv;
  let store: ObjectStore;
  beforeAll(async () => {
    env = await startTestEnv();
    store = new ObjectStore(env.clients.s3);
  });
  afterAll(() => env.close());

  it("puts, gets and checks objects", async () => {
    const uri = `s3://${env.buckets.traces}/exceptions/acme/run-1/traceback.txt`;
    expect(await store.exists(uri)).toBe(false);
    await store.put(uri, "Traceback: boom\n", { contentType: "text/plain" });
    expect(await store.exists(uri)).toBe(true);
    expect((await store.get(uri)).toString("utf8")).toBe("Traceback: boom\n");
    const binary = Buffer.from([0, 1, 2, 255, 254]);
    await store.put(uri, binary);
    expect((await store.get(uri)).equals(binary)).toBe(true);
    expect(sha256Hex(binary)).toBe(sha256Hex(await store.get(uri)));
  });

  it("a missing object or bucket is a NotFoundError naming the URI", async () => {
    const missing = `s3://${env.buckets.artifacts}/flows/none/1.0.0/artifact.zip`;
    await expect(store.get(missing)).rejects.toThrow(NotFoundError);
    await expect(store.get(missing)).rejects.toThrow(`object not found: ${missing}`);
    await expect(store.get("s3://no-such-bucket-here/x")).rejects.toThrow(
      /bucket not found: no-such-bucket-here/,
    );
    expect(await store.exists("s3://no-such-bucket-here/x")).toBe(false);
  });

  it("ifNoneMatch refuses to overwrite", async () => {
    const uri = `s3://${env.buckets.artifacts}/run-inputs/acme/run-1/parameters.json`;
    await store.put(uri, "{}", { ifNoneMatch: true });
    await expect(store.put(uri, '{"x":1}', { ifNoneMatch: true })).rejects.toThrow(ConflictError);
    expect((await store.get(uri)).toString()).toBe("{}");
  });

  it("sha256Hex matches the known digest", () => {
    expect(sha256Hex("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
