import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveTarget } from "../../lib/cli/target";
import { ConfigurationError } from "../../lib/errors";

describe("where lifecycle commands go", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dagy-target-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("defaults to the local platform on 127.0.0.1:8787 with .dagy under the cwd", () => {
    expect(resolveTarget({}, {}, dir)).toEqual({
      kind: "local",
      apiUrl: "http://127.0.0.1:8787",
      dataDir: join(dir, ".dagy"),
    });
    expect(resolveTarget({ port: "9000" }, {}, dir)).toMatchObject({
      apiUrl: "http://127.0.0.1:9000",
    });
    expect(resolveTarget({}, { DAGY_PORT: "9100" }, dir)).toMatchObject({
      apiUrl: "http://127.0.0.1:9100",
    });
    expect(() => resolveTarget({ port: "http" }, {}, dir)).toThrow(/--port: "http" is not a port/);
  });

  it("takes a deployed stack's API URL, auth mode and region from `cdk deploy --outputs-file`", async () => {
    const file = join(dir, "cdk-outputs.json");
    await writeFile(
      file,
      JSON.stringify({
        "Dagy-production": {
          DagyApiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/",
          DagyApiAuthMode: "iam",
          DagyRegion: "eu-west-1",
          DagyArtifactBucket: "dagy-artifacts-123",
          SomethingElse: "ignored",
        },
      }),
    );
    expect(
      resolveTarget({ outputs: "cdk-outputs.json" }, { AWS_REGION: "us-east-1" }, dir),
    ).toEqual({
      kind: "remote",
      apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com",
      auth: { mode: "iam", region: "eu-west-1" },
      source: "cdk-outputs.json",
    });
    const jwt = join(dir, "jwt-outputs.json");
    await writeFile(
      jwt,
      JSON.stringify({ D: { DagyApiUrl: "https://api.example.com", DagyApiAuthMode: "jwt" } }),
    );
    expect(() => resolveTarget({ outputs: jwt }, {}, dir)).toThrow(
      /takes a bearer token \(JWT mode\): pass --token or set DAGY_TOKEN/,
    );
    expect(resolveTarget({ outputs: jwt }, { DAGY_TOKEN: "t0k" }, dir)).toMatchObject({
      auth: { mode: "jwt", token: "t0k" },
    });
    expect(
      resolveTarget({ outputs: jwt, token: "flag" }, { DAGY_TOKEN: "env" }, dir),
    ).toMatchObject({ auth: { mode: "jwt", token: "flag" } });
  });

  it("asks which stack when the outputs file holds several, and refuses one without an API URL", async () => {
    const file = join(dir, "two.json");
    await writeFile(file, JSON.stringify({ A: { DagyArtifactBucket: "b" }, B: {} }));
    expect(() => resolveTarget({ outputs: file }, {}, dir)).toThrow(ConfigurationError);
    expect(() => resolveTarget({ outputs: file }, {}, dir)).toThrow(/choose one with --stack/);
    expect(() => resolveTarget({ outputs: file, stack: "A" }, {}, dir)).toThrow(
      /has no DagyApiUrl output/,
    );
  });

  it("signs for an execute-api URL, sends a token when given one, and nothing to a plain URL", () => {
    expect(resolveTarget({ url: "https://api.example.com/" }, {}, dir)).toEqual({
      kind: "remote",
      apiUrl: "https://api.example.com",
      auth: { mode: "none" },
      source: "--url",
    });
    expect(
      resolveTarget({}, { DAGY_API_URL: "https://x1y2.execute-api.ap-south-1.amazonaws.com" }, dir),
    ).toMatchObject({ source: "DAGY_API_URL", auth: { mode: "iam", region: "ap-south-1" } });
    expect(
      resolveTarget({}, { DAGY_API_URL: "https://api.example.com", DAGY_TOKEN: "t" }, dir),
    ).toMatchObject({ auth: { mode: "jwt", token: "t" } });
    expect(
      resolveTarget(
        { url: "https://api.example.com" },
        { DAGY_API_AUTH_MODE: "iam", AWS_REGION: "eu-north-1" },
        dir,
      ),
    ).toMatchObject({ auth: { mode: "iam", region: "eu-north-1" } });
    expect(() =>
      resolveTarget({ url: "https://api.example.com" }, { DAGY_API_AUTH_MODE: "oauth" }, dir),
    ).toThrow(/DAGY_API_AUTH_MODE: "oauth" is not one of iam, jwt, none/);
    // Stack variables without an API URL no longer pick a target: only the API is spoken.
    expect(resolveTarget({}, { DAGY_ARTIFACT_BUCKET: "b", DAGY_RUNS_TABLE: "t" }, dir).kind).toBe(
      "local",
    );
  });
});
