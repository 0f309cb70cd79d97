import { FlowBuildError, loadArtifact } from "../../lib/artifact";
import { buildFlow } from "../../lib/bundler";
import { runDag } from "../../lib/sdk";
import { cleanup, tempDir, writeTree, zipEntries } from "./helpers";

const dirs: string[] = [];
afterEach(() => cleanup(dirs));

/**
 * A project outside this repository: "dagy" resolves to this repository's SDK sources through
 * the tsconfig's `paths`, as it resolves to the installed package's .d.ts in a user's project.
 */
async function project(files: Record<string, string>): Promise<string> {
  const dir = await tempDir("dagy-typecheck-");
  dirs.push(dir);
  await writeTree(dir, {
    "package.json": JSON.stringify({ name: "flows", private: true }),
    "tsconfig.json": JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "preserve",
        moduleResolution: "bundler",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ["node"],
        typeRoots: [`${__dirname}/../../node_modules/@types`],
        paths: { dagy: [`${__dirname}/../../lib/sdk/index.ts`] },
      },
    }),
    ...files,
  });
  return dir;
}

const GOOD = `import { dag, task } from "dagy";
import { double } from "./lib/math";

export const twice = task("twice", ({ n }: { n: number }) => double(n));

export default dag("typed", { parameters: { n: { type: "integer" } } }, () => {
  twice({ n: "{{ parameters.n }}" });
});
`;

describe("dagy build type-checks the flow", () => {
  test("a well-typed flow builds; the artifact carries its sources, the map their text", async () => {
    const dir = await project({
      "flows/typed.ts": GOOD,
      "flows/lib/math.ts": "export const double = (n: number): number => n * 2;\n",
    });
    const result = await buildFlow({ entry: "flows/typed.ts", cwd: dir, typecheck: true });
    expect(result.typecheck?.configFile).toBe(`${dir}/tsconfig.json`);
    expect(result.sources).toEqual(["flows/lib/math.ts", "flows/typed.ts"]);
    const files = zipEntries(result.artifact);
    expect(files["src/flows/typed.ts"]?.toString("utf8")).toBe(GOOD);
    const map = /sourceMappingURL=data:application\/json;base64,(\S+)/.exec(result.bundle);
    const decoded = JSON.parse(Buffer.from(map![1]!, "base64").toString("utf8"));
    expect([...decoded.sources].sort()).toEqual(["flows/lib/math.ts", "flows/typed.ts"]);
    expect(decoded.sourcesContent[decoded.sources.indexOf("flows/typed.ts")]).toBe(GOOD);

    const run = await runDag(loadArtifact(result.artifact).dag, { parameters: { n: 21 } });
    expect(run.status).toBe("SUCCEEDED");
  });

  test("a type error is refused with the compiler's message, naming file and line", async () => {
    const dir = await project({
      "flows/typed.ts": GOOD.replace("double(n)", "double(String(n))"),
      "flows/lib/math.ts": "export const double = (n: number): number => n * 2;\n",
    });
    const error = await buildFlow({ entry: "flows/typed.ts", cwd: dir, typecheck: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FlowBuildError);
    expect((error as Error).message).toMatch(/type check failed with 1 error/);
    expect((error as Error).message).toMatch(
      /flows\/typed\.ts\(4,\d+\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/,
    );
    // Without the check the same flow bundles (esbuild strips types).
    await expect(buildFlow({ entry: "flows/typed.ts", cwd: dir })).resolves.toBeDefined();
  });

  test("the same inputs give the same artifact bytes", async () => {
    const dir = await project({
      "flows/typed.ts": GOOD,
      "flows/lib/math.ts": "export const double = (n: number): number => n * 2;\n",
    });
    const builtAt = new Date("2024-01-01T00:00:00Z");
    const a = await buildFlow({ entry: "flows/typed.ts", cwd: dir, builtAt, typecheck: true });
    const b = await buildFlow({ entry: "flows/typed.ts", cwd: dir, builtAt });
    expect(Buffer.compare(a.artifact, b.artifact)).toBe(0);
  });
});
