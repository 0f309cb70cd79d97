import { createHash } from "node:crypto";
import { cp, readFile, rm } from "node:fs/promises";
import * as path from "node:path";
import { FlowBuildError, loadArtifact, readArtifact } from "../../lib/artifact";
import { buildFlow } from "../../lib/bundler";
import { ValidationError } from "../../lib/errors";
import { runDag, SDK_VERSION } from "../../lib/sdk";
import { cleanup, copyExamples, REPO_ROOT, tempDir, writeTree, zipEntries } from "./helpers";

const ETL = "examples/flows/etl_pipeline.ts";
const FIXED = new Date("2024-05-01T12:00:00.000Z");
const dirs: string[] = [];
afterEach(() => cleanup(dirs));

async function temp(): Promise<string> {
  const dir = await tempDir();
  dirs.push(dir);
  return dir;
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

describe("buildFlow", () => {
  test("packs flow_spec.json, metadata.json and a flow.js that uses the host's SDK", async () => {
    const result = await buildFlow({ entry: ETL, cwd: REPO_ROOT, builtAt: FIXED });
    const files = zipEntries(result.artifact);

    expect(Object.keys(files)).toEqual([
      "flow_spec.json",
      "metadata.json",
      "flow.js",
      `src/${ETL}`,
    ]);
    expect(files[`src/${ETL}`]!.toString("utf8")).toBe(
      await readFile(path.join(REPO_ROOT, ETL), "utf8"),
    );
    const spec = JSON.parse(files["flow_spec.json"]!.toString("utf8"));
    expect(spec).toEqual(result.spec);
    expect(spec).toMatchObject({
      spec_version: 1,
      name: "etl_pipeline",
      version: "1.0.0",
      parameters: {
        date: { type: "string", required: true },
        source: { type: "string", required: true },
        destination: { type: "string", required: false, default: "" },
      },
      edges: [
        ["extract", "transform"],
        ["transform", "load"],
      ],
    });
    expect(spec.tasks.map((t: { id: string }) => t.id)).toEqual(["extract", "transform", "load"]);
    expect(JSON.parse(files["metadata.json"]!.toString("utf8"))).toEqual({
      name: "etl_pipeline",
      version: "1.0.0",
      built_at: FIXED.toISOString(),
      sdk_version: SDK_VERSION,
      bundle_sha256: sha256(files["flow.js"]!),
      entry: "flow.js",
      source: ETL,
    });
    const bundle = files["flow.js"]!.toString("utf8");
    expect(bundle).toBe(result.bundle);
    // "dagy" stays external: the bundle must not carry its own executor.
    expect(bundle).toContain('require("dagy")');
    expect(bundle).not.toContain("dagy.registry");
  });

  test("same source and version give the same flow_spec.json and bundle, from any directory", async () => {
    const first = await buildFlow({ entry: ETL, cwd: REPO_ROOT, builtAt: FIXED });
    const second = await buildFlow({ entry: ETL, cwd: REPO_ROOT, builtAt: FIXED });
    expect(second.artifact.equals(first.artifact)).toBe(true);

    // A copy of the project elsewhere, built from another working directory.
    const copy = await temp();
    await copyExamples(copy);
    const moved = await buildFlow({
      entry: path.join(copy, ETL),
      cwd: path.join(copy, "examples"),
      builtAt: FIXED,
    });
    expect(moved.metadata.bundle_sha256).toBe(first.metadata.bundle_sha256);
    expect(zipEntries(moved.artifact)["flow_spec.json"]).toEqual(
      zipEntries(first.artifact)["flow_spec.json"],
    );
    expect(moved.bundle).not.toContain(copy);
    expect(first.bundle).not.toContain(REPO_ROOT);
  });

  test("--version overrides the declared version in spec and metadata", async () => {
    const result = await buildFlow({ entry: ETL, cwd: REPO_ROOT, version: "2.3.4-rc.1" });
    expect(result.spec.version).toBe("2.3.4-rc.1");
    expect(result.metadata.version).toBe("2.3.4-rc.1");
    const read = readArtifact(result.artifact);
    expect([read.spec.version, read.metadata.version]).toEqual(["2.3.4-rc.1", "2.3.4-rc.1"]);
  });

  test("rejects a version that cannot be an S3 key segment, naming the field", async () => {
    const attempt = buildFlow({ entry: ETL, cwd: REPO_ROOT, version: "../1.0" });
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toMatchObject({ field: "version" });
  });

  test("writes the artifact to outFile, creating directories", async () => {
    const dir = await temp();
    const result = await buildFlow({
      entry: ETL,
      cwd: REPO_ROOT,
      outFile: path.join(dir, "a/b/x.zip"),
    });
    expect(result.path).toBe(path.join(dir, "a/b/x.zip"));
    expect((await readFile(result.path!)).equals(result.artifact)).toBe(true);
  });

  test("inlines npm imports so the artifact runs without node_modules", async () => {
    const project = await temp();
    await writeTree(project, {
      "package.json": '{ "name": "semver-flow", "private": true }\n',
      "flows/bump.ts": `import { dag, task } from "dagy";
import semver from "semver";
const bump = task("bump", ({ v }: { v: string }) => semver.inc(v, "minor"));
export default dag("bump", { parameters: { v: { type: "string" } } }, () => {
  bump({ v: "{{ parameters.v }}" });
});
`,
    });
    await cp(
      path.join(REPO_ROOT, "node_modules/semver"),
      path.join(project, "node_modules/semver"),
      {
        recursive: true,
      },
    );
    const built = await buildFlow({ entry: "flows/bump.ts", cwd: project });
    expect(built.bundle).toContain("node_modules/semver/");
    expect(built.bundle).not.toMatch(/require\("semver"\)/);

    const copy = await temp();
    await cp(project, copy, { recursive: true });
    const rebuilt = await buildFlow({ entry: "flows/bump.ts", cwd: copy });
    expect(rebuilt.metadata.bundle_sha256).toBe(built.metadata.bundle_sha256);

    await rm(path.join(project, "node_modules"), { recursive: true });
    const { dag } = loadArtifact(built.artifact);
    const result = await runDag(dag, { parameters: { v: "1.2.3" } });
    expect(result.status).toBe("SUCCEEDED");
    expect(result.outputs.bump).toBe("1.3.0");
  });
});

describe("build failures name the file and the reason", () => {
  async function buildSource(source: string, name = "flow.ts"): Promise<unknown> {
    const dir = await temp();
    await writeTree(dir, { [name]: source });
    return buildFlow({ entry: name, cwd: dir }).then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  test("a syntax error reports esbuild's location", async () => {
    const error = await buildSource(
      'import { dag } from "dagy";\nconst x = ;\nexport default x;\n',
      "broken.ts",
    );
    expect(error).toBeInstanceOf(FlowBuildError);
    expect((error as Error).message).toMatch(/^broken\.ts: build failed with 1 error/);
    expect((error as Error).message).toContain("broken.ts:2:10");
  });

  test("a flow without a DAG", async () => {
    const error = await buildSource(
      'import { task } from "dagy";\nexport const t = task("t", () => 1);\n',
    );
    expect(error).toBeInstanceOf(FlowBuildError);
    expect((error as Error).message).toBe(
      "flow.ts: no DAG defined; a flow module must call dag(name, options, builder) exactly once",
    );
  });

  test("a flow with two DAGs names both", async () => {
    const error = await buildSource(`import { dag, task } from "dagy";
const t = task("t", () => 1);
dag("first", {}, () => { t(); });
dag("second", {}, () => { t(); });
`);
    expect(error).toBeInstanceOf(FlowBuildError);
    expect((error as Error).message).toContain('flow.ts: defines 2 DAGs ("first", "second")');
  });

  test("a flow that throws while loading, with the thrown error as cause", async () => {
    const error = await buildSource(`import { dag, task } from "dagy";
if (!process.env.DAGY_TEST_NEVER_SET) throw new Error("config missing");
export default dag("x", {}, () => { task("t", () => 1)(); });
`);
    expect(error).toBeInstanceOf(FlowBuildError);
    expect((error as Error).message).toBe("flow.ts: loading the flow threw: config missing");
    expect(((error as Error).cause as Error).message).toBe("config missing");
  });

  test("an invalid DAG definition", async () => {
    const error = await buildSource(`import { dag } from "dagy";
export default dag("empty", {}, () => {});
`);
    expect(error).toBeInstanceOf(FlowBuildError);
    expect((error as Error).message).toMatch(
      /^flow\.ts: loading the flow threw: DAG "empty" has no tasks/,
    );
  });

  test("a missing entry file", async () => {
    await expect(buildFlow({ entry: "nope.ts", cwd: REPO_ROOT })).rejects.toThrow(
      new ValidationError("flow file not found: nope.ts"),
    );
  });
});
