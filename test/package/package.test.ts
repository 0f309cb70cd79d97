/**
 * The package as a flow author gets it: `npm pack` of this repository, installed into a fresh
 * project outside it, `dagy init`, then the scaffold's own scripts. Slow (a build, a pack and an
 * install: about a minute); it uses the npm cache first and the registry only for what the cache
 * lacks.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without what an enclosing `npm test` sets for its own package. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    const lower = name.toLowerCase();
    if (lower.startsWith("npm_") && !/^npm_config_(cache|registry|userconfig)$/.test(lower)) {
      continue;
    }
    if (name === "INIT_CWD" || name === "NODE_ENV" || name.startsWith("JEST")) continue;
    env[name] = value;
  }
  env.npm_config_update_notifier = "false";
  env.npm_config_fund = "false";
  env.npm_config_audit = "false";
  return env;
}

function exec(file: string, args: readonly string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { cwd, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function expectOk(result: Result, what: string): void {
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
}

let work: string;
let project: string;
let dagyBin: string;
const dagy = (...args: string[]) => exec(process.execPath, [dagyBin, ...args], project);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "dagy-package-"));
  // `npm pack` runs `prepack`, which compiles dist/ and bundles the worker.
  const packed = await exec(NPM, ["pack", "--json", "--pack-destination", work], REPO_ROOT);
  expectOk(packed, "npm pack");
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{
    filename: string;
  }>;
  const tarball = path.join(work, path.basename(info!.filename));

  project = path.join(work, "my-flows");
  await mkdir(project, { recursive: true });
  await writeFile(
    path.join(project, "package.json"),
    `${JSON.stringify({ name: "my-flows", version: "1.0.0", private: true }, null, 2)}\n`,
  );
  const installed = await exec(
    NPM,
    ["install", "--save-dev", tarball, "--prefer-offline", "--no-audit", "--no-fund"],
    project,
  );
  expectOk(installed, "npm install <tarball>");
  dagyBin = path.join(project, "node_modules", "dagy", "bin", "dagy.js");
}, 300_000);

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the packed package in a flow author's repository", () => {
  test("ships compiled JavaScript with declarations, and no CDK", async () => {
    const pkg = path.join(project, "node_modules", "dagy");
    for (const file of [
      "dist/bin/dagy.js",
      "dist/lib/sdk/index.js",
      "dist/lib/sdk/index.d.ts",
      "dist/lib/launcher/index.d.ts",
      "dist/lib/testing/index.d.ts",
      "dist/worker.js",
    ]) {
      expect(existsSync(path.join(pkg, file))).toBe(true);
    }
    const sdkFiles = await readdir(path.join(pkg, "dist", "lib", "sdk"));
    expect(sdkFiles.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    for (const cdk of ["aws-cdk-lib", "constructs", "cdk-nag"]) {
      expect(existsSync(path.join(project, "node_modules", cdk))).toBe(false);
    }
  });

  test("the console comes prebuilt (the package has no UI sources to build it from)", async () => {
    const build = path.join(project, "node_modules", "dagy", "dist", "lib", "console", "build.js");
    const script =
      `require(${JSON.stringify(build)}).consoleBundle()` +
      ".then((b) => console.log([...b.assets.keys()].sort().join(',')))";
    const result = await exec(process.execPath, ["-e", script], project);
    expectOk(result, "consoleBundle()");
    expect(result.stdout.trim()).toBe("app.css,app.js");
  });

  test("dagy/launcher loads from CommonJS and from ESM", async () => {
    await writeFile(
      path.join(project, "esm.mjs"),
      'import { DagLauncher } from "dagy/launcher";\nimport { dag } from "dagy";\n' +
        'import { testFlow } from "dagy/testing";\n' +
        "console.log(typeof DagLauncher, typeof dag, typeof testFlow);\n",
    );
    await writeFile(
      path.join(project, "cjs.cjs"),
      'const { DagLauncher } = require("dagy/launcher");\nconsole.log(typeof DagLauncher);\n',
    );
    const esm = await exec(process.execPath, ["esm.mjs"], project);
    expectOk(esm, "node esm.mjs");
    expect(esm.stdout.trim()).toBe("function function function");
    const cjs = await exec(process.execPath, ["cjs.cjs"], project);
    expectOk(cjs, "node cjs.cjs");
    expect(cjs.stdout.trim()).toBe("function");
  });

  test("dagy init scaffolds a project whose test, type check, build and run pass", async () => {
    const init = await dagy("init");
    expectOk(init, "dagy init");
    expect(init.stdout).toContain("created     flows/word_count.ts");
    const manifest = JSON.parse(await readFile(path.join(project, "package.json"), "utf8"));
    expect(manifest.devDependencies.dagy).toMatch(/^file:/);
    expect(Object.keys(manifest.scripts)).toEqual(
      expect.arrayContaining(["build", "run", "dev", "test"]),
    );

    const tested = await exec(NPM, ["test"], project);
    expectOk(tested, "npm test (the scaffold's own test)");
    expect(tested.stdout).toMatch(/# pass 2/);

    const typecheck = await exec(NPM, ["run", "typecheck"], project);
    expectOk(typecheck, "npm run typecheck");

    const built = await dagy("build", "flows/word_count.ts", "--output", "dist/wc.zip");
    expectOk(built, "dagy build");
    expect(built.stdout).toContain("types    checked");
    expect(built.stdout).toContain("sources  flows/word_count.ts");

    const ran = await dagy("run", "dist/wc.zip", "--param", "text=b a b", "--json");
    expectOk(ran, "dagy run <artifact>");
    const events = ran.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event_type: string; output?: unknown });
    expect(events.map((e) => e.event_type)).toContain("run_succeeded");
  });

  test("dagy build refuses a flow with a type error, with the compiler's message", async () => {
    const flow = await readFile(path.join(project, "flows", "word_count.ts"), "utf8");
    await writeFile(
      path.join(project, "flows", "broken.ts"),
      flow.replace("count({ words,", "count({ words: 42,"),
    );
    const refused = await dagy("build", "flows/broken.ts", "--output", "dist/broken.zip");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/type check failed with 1 error/);
    expect(refused.stderr).toMatch(/flows\/broken\.ts\(\d+,\d+\): error TS2322/);
    expect(existsSync(path.join(project, "dist", "broken.zip"))).toBe(false);
    const unchecked = await dagy("build", "flows/broken.ts", "-o", "dist/b.zip", "--no-typecheck");
    expectOk(unchecked, "dagy build --no-typecheck");
    await rm(path.join(project, "flows", "broken.ts"));
  });
});
