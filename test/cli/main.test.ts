import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { main, type CliIO } from "../../lib/cli";
import { parseParamFlags, parseParamValue } from "../../lib/cli/params";

/** The CLI in-process, with captured output: usage handling and parameter parsing. */

const REPO_ROOT = path.resolve(__dirname, "..", "..");

async function dagy(args: string[], cwd = REPO_ROOT) {
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    cwd,
    env: {},
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "dagy-cli-main-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("help and usage errors", () => {
  test("--help lists every command", async () => {
    const result = await dagy(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: dagy <command> \[options\]/);
    for (const name of ["build", "run", "graph"]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
    }
  });

  test("<command> --help and help <command> print the command's usage", async () => {
    const direct = await dagy(["run", "--help"]);
    const viaHelp = await dagy(["help", "run"]);
    expect(direct.code).toBe(0);
    expect(direct.stdout).toMatch(/^Usage: dagy run <flow\.ts\|artifact\.zip> \[options\]/);
    expect(direct.stdout).toContain("--params-file <file>");
    expect(viaHelp.stdout).toBe(direct.stdout);
  });

  test("no command prints the usage and exits 2", async () => {
    const result = await dagy([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^Usage: dagy/);
  });

  test.each([
    [["deploy"], "dagy: error: unknown command \"deploy\"\nRun 'dagy --help' for usage.\n"],
    [
      ["run", "x.ts", "--parallel", "3"],
      "dagy: error: Unknown option '--parallel'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--parallel\"\nRun 'dagy run --help' for usage.\n",
    ],
    [
      ["run"],
      "dagy: error: missing flow file or artifact (dagy run <flow.ts|artifact.zip>)\nRun 'dagy run --help' for usage.\n",
    ],
    [
      ["run", "examples/flows/hello.ts", "--max-parallelism", "0"],
      "dagy: error: --max-parallelism must be a whole number >= 1, got \"0\"\nRun 'dagy run --help' for usage.\n",
    ],
    [
      ["run", "examples/flows/hello.ts", "--param", "name"],
      "dagy: error: --param expects key=value, got \"name\"\nRun 'dagy run --help' for usage.\n",
    ],
    [
      ["build", "a.ts", "b.ts"],
      "dagy: error: unexpected argument: b.ts\nRun 'dagy build --help' for usage.\n",
    ],
    [["graph", "missing.ts"], "dagy: error: flow file not found: missing.ts\n"],
    [["run", "missing.zip"], "dagy: error: artifact not found: missing.zip\n"],
  ])("dagy %j exits 2 with one clear error", async (args, stderr) => {
    const result = await dagy(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(stderr);
  });

  test("a flow that does not build exits 1 naming the file", async () => {
    await writeFile(path.join(dir, "nodag.ts"), "export const x = 1;\n");
    const result = await dagy(["build", "nodag.ts", "-o", "a.zip"], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "dagy: error: nodag.ts: no DAG defined; a flow module must call dag(name, options, builder) exactly once\n",
    );
  });
});

describe("parameters", () => {
  test("values are JSON when they parse, text otherwise, and text for string parameters", () => {
    expect(parseParamValue("3")).toBe(3);
    expect(parseParamValue("true")).toBe(true);
    expect(parseParamValue('{"a":[1,2]}')).toEqual({ a: [1, 2] });
    expect(parseParamValue("s3://bucket/key")).toBe("s3://bucket/key");
    expect(parseParamValue("007", "string")).toBe("007");
    expect(parseParamValue("007", "integer")).toBe("007"); // Not JSON: left for validation to reject.
    expect(
      parseParamFlags("run", ["n=5", "label=5", "expr=a=b", "n=6"], {
        label: { type: "string", required: true },
      }),
    ).toEqual({ n: 6, label: "5", expr: "a=b" });
  });

  test("--params-file is overridden by --param, and parameters reach tasks and the environment", async () => {
    await writeFile(
      path.join(dir, "echo.ts"),
      `import { writeFileSync } from "node:fs";
import { dag, task } from "dagy";
const echo = task("echo", ({ out }: { out: string }, ctx) => {
  writeFileSync(out, JSON.stringify({ parameters: ctx.parameters, env: process.env.COUNT ?? null }));
});
export default dag("echo", {
  parameters: { out: { type: "string" }, count: { type: "integer" }, tags: { type: "array", default: [] } },
}, () => { echo({ out: "{{ parameters.out }}" }); });
`,
    );
    const out = path.join(dir, "echo.json");
    await writeFile(path.join(dir, "params.json"), JSON.stringify({ count: 1, tags: ["a"], out }));
    const result = await dagy(
      ["run", "echo.ts", "--params-file", "params.json", "--param", "count=42"],
      dir,
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`parameters: out=${JSON.stringify(out)} count=42 tags=["a"]`);
    expect(JSON.parse(await readFile(out, "utf8"))).toEqual({
      parameters: { out, count: 42, tags: ["a"] },
      env: "42",
    });
  });

  test("a parameter of the wrong type exits 2 before any task runs", async () => {
    const result = await dagy(["run", "examples/flows/fan_out.ts", "--param", "n=many"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^dagy: error: .*"n".*integer/);
  });
});
