import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { zipSync } from "fflate";
import { loadArtifact, loadFlowBundle, readArtifact } from "../../lib/artifact";
import { buildFlow, loadFlowSource } from "../../lib/bundler";
import { ArtifactError } from "../../lib/errors";
import { runDag } from "../../lib/sdk";
import { cleanup, REPO_ROOT, tempDir, writeTree, zipEntries } from "../bundler/helpers";

const ETL = "examples/flows/etl_pipeline.ts";
const dirs: string[] = [];
afterEach(() => cleanup(dirs));

async function temp(): Promise<string> {
  const dir = await tempDir();
  dirs.push(dir);
  return dir;
}

describe("loading artifacts", () => {
  test("an artifact run writes the same ETL output as a source run", async () => {
    const dir = await temp();
    const source = path.join(REPO_ROOT, "examples/data/orders.csv");
    const fromSource = await loadFlowSource(ETL, { cwd: REPO_ROOT });
    const a = await runDag(fromSource, {
      parameters: { date: "2024-03-14", source, destination: path.join(dir, "source/out.json") },
    });
    const { artifact } = await buildFlow({ entry: ETL, cwd: REPO_ROOT });
    const b = await runDag(loadArtifact(artifact).dag, {
      parameters: { date: "2024-03-14", source, destination: path.join(dir, "artifact/out.json") },
    });
    expect([a.status, b.status]).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    const first = await readFile(path.join(dir, "source/out.json"));
    const second = await readFile(path.join(dir, "artifact/out.json"));
    expect(second.equals(first)).toBe(true);
    const report = JSON.parse(first.toString("utf8"));
    expect(report.order_count).toBe(20);
    expect(report.orders.every((o: { processed: unknown }) => o.processed === true)).toBe(true);
  });

  test("a bundle that does not match metadata's sha256 is refused", async () => {
    const { artifact } = await buildFlow({ entry: ETL, cwd: REPO_ROOT });
    const files = zipEntries(artifact);
    const tampered = Buffer.from(
      zipSync({
        "flow_spec.json": files["flow_spec.json"]!,
        "metadata.json": files["metadata.json"]!,
        "flow.js": Buffer.concat([files["flow.js"]!, Buffer.from("\nconsole.log('x');\n")]),
      }),
    );
    expect(() => loadArtifact(tampered)).toThrow(ArtifactError);
    expect(() => loadArtifact(tampered)).toThrow(/flow\.js does not match metadata\.json: sha256/);
    // Reading the spec alone does not look at the bundle.
    expect(readArtifact(tampered).spec.name).toBe("etl_pipeline");
  });

  test("readArtifact validates the JSON files and runs no flow code", async () => {
    const dir = await temp();
    await writeTree(dir, {
      "counted.ts": `import { dag, task } from "dagy";
const g = globalThis as { dagyTestLoads?: number };
g.dagyTestLoads = (g.dagyTestLoads ?? 0) + 1;
export default dag("counted", {}, () => { task("t", () => 1)(); });
`,
    });
    const g = globalThis as { dagyTestLoads?: number };
    g.dagyTestLoads = 0;
    const { artifact } = await buildFlow({ entry: "counted.ts", cwd: dir });
    expect(g.dagyTestLoads).toBe(1);
    const read = readArtifact(artifact);
    expect(read.metadata.name).toBe("counted");
    expect(read.entries).toEqual(["flow_spec.json", "metadata.json", "flow.js", "src/counted.ts"]);
    expect(g.dagyTestLoads).toBe(1);
    loadArtifact(artifact);
    expect(g.dagyTestLoads).toBe(2);
  });

  test("malformed artifacts are ArtifactErrors that say what is wrong", () => {
    expect(() => readArtifact(Buffer.from("not a zip"))).toThrow(ArtifactError);
    const noSpec = Buffer.from(zipSync({ "metadata.json": Buffer.from("{}") }));
    expect(() => readArtifact(noSpec)).toThrow("artifact has no flow_spec.json");
    const badSpec = Buffer.from(
      zipSync({
        "flow_spec.json": Buffer.from(
          JSON.stringify({
            spec_version: 1,
            name: "x",
            version: "1",
            parameters: {},
            tasks: [
              {
                id: "a",
                task: "a",
                upstream: ["zzz"],
                options: {
                  retries: 0,
                  retry_delay_ms: 1,
                  backoff_factor: 2,
                  max_retry_delay_ms: 5,
                },
              },
            ],
            edges: [],
          }),
        ),
        "metadata.json": Buffer.from("{}"),
      }),
    );
    expect(() => readArtifact(badSpec)).toThrow('tasks.0.upstream.0: unknown task id "zzz"');
  });
});

describe("loadFlowBundle", () => {
  const bundle = (body: string): string => `"use strict";
const { dag, task } = require("dagy");
${body}
`;

  test("resolves external modules from extraNodePaths", async () => {
    const deps = await temp();
    await writeTree(deps, {
      "tiny-dep/package.json": '{ "name": "tiny-dep", "main": "index.js" }',
      "tiny-dep/index.js": "exports.shout = (s) => s.toUpperCase() + '!';",
    });
    const code = bundle(`const { shout } = require("tiny-dep");
module.exports = dag("dep_user", {}, () => { task("shout", () => shout("hi"))(); });`);

    expect(() => loadFlowBundle(code, "/dagy/dep_user/flow.js")).toThrow(
      /Cannot find module 'tiny-dep'/,
    );
    const dag = loadFlowBundle(code, "/dagy/dep_user/flow.js", { extraNodePaths: [deps] });
    const result = await runDag(dag);
    expect(result.outputs.shout).toBe("HI!");
  });

  test("flows may import only the SDK entry of dagy", () => {
    const code = bundle(`require("dagy/launcher");`);
    expect(() => loadFlowBundle(code, "/x/flow.js", { sourceName: "x.ts" })).toThrow(
      'x.ts: loading the flow threw: flows may import only "dagy" from the Dagy SDK, not "dagy/launcher"',
    );
  });

  test("errors thrown by tasks name the flow in their stack", async () => {
    const dir = await temp();
    await writeTree(dir, {
      "failing.ts": `import { dag, task } from "dagy";

function check(n: number): number {
  if (n > 1) throw new Error("too large: " + n);
  return n;
}
export default dag("failing", {}, () => { task("check", () => check(2))(); });
`,
    });
    const { artifact } = await buildFlow({ entry: "failing.ts", cwd: dir });
    const result = await runDag(loadArtifact(artifact).dag);
    expect(result.status).toBe("FAILED");
    // Under jest, jest formats stacks itself (so the source map is not applied here; the CLI
    // tests check the mapped line in a real process). The frame still names the flow.
    expect(result.error?.stack).toMatch(/at check \(.*dagy\/failing@0\.0\.0\//);
  });
});
