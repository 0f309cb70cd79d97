import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findFlowFiles, flowsSetting, globToRegExp } from "../../lib/cli/flow-files";
import { UsageError } from "../../lib/cli/io";
import { writeTree } from "../bundler/helpers";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dagy-flows-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("which flows dagy dev registers for a project", () => {
  test("--flows wins, then package.json dagy.flows, then a flows/ folder", async () => {
    expect(flowsSetting(dir, undefined)).toBeUndefined();
    await writeTree(dir, { "flows/a.ts": "" });
    expect(flowsSetting(dir, undefined)).toEqual({ globs: ["flows/*.ts"], from: "flows/" });
    await writeTree(dir, {
      "package.json": JSON.stringify({ name: "p", dagy: { flows: ["pipelines/**/*.ts"] } }),
    });
    expect(flowsSetting(dir, undefined)).toEqual({
      globs: ["pipelines/**/*.ts"],
      from: "package.json dagy.flows",
    });
    expect(flowsSetting(dir, "src/*.flow.ts")).toEqual({
      globs: ["src/*.flow.ts"],
      from: "--flows",
    });
  });

  test("a dagy.flows that is not a glob is a usage error naming the setting", async () => {
    await writeTree(dir, { "package.json": JSON.stringify({ dagy: { flows: 3 } }) });
    expect(() => flowsSetting(dir, undefined)).toThrow(UsageError);
    expect(() => flowsSetting(dir, undefined)).toThrow(/"dagy.flows" must be a glob/);
  });

  test("globs match flow files, never tests, declarations or node_modules", async () => {
    await writeTree(dir, {
      "flows/etl.ts": "",
      "flows/etl.test.ts": "",
      "flows/types.d.ts": "",
      "flows/lib/helpers.ts": "",
      "flows/deep/nested/report.mts": "",
      "flows/README.md": "",
      "node_modules/x/flows/evil.ts": "",
    });
    expect(await findFlowFiles(dir, ["flows/*.ts"])).toEqual([join(dir, "flows/etl.ts")]);
    expect(await findFlowFiles(dir, ["./flows/**/*.{ts,mts}"])).toEqual([
      join(dir, "flows/deep/nested/report.mts"),
      join(dir, "flows/etl.ts"),
      join(dir, "flows/lib/helpers.ts"),
    ]);
    expect(await findFlowFiles(dir, ["**/*.ts"])).not.toContain(
      join(dir, "node_modules/x/flows/evil.ts"),
    );
    expect(globToRegExp("a/**/b?.ts").test("a/b1.ts")).toBe(true);
    expect(globToRegExp("a/*.ts").test("a/b/c.ts")).toBe(false);
  });
});
