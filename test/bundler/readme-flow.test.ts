import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { loadArtifact } from "../../lib/artifact";
import { buildFlow } from "../../lib/bundler";
import { runDag } from "../../lib/sdk";
import { REPO_ROOT, writeTree } from "./helpers";

/** The README's "Writing a flow" snippet builds (type-checked) and runs as written. */
test("the README's flow snippet type-checks, builds and runs on the example orders", async () => {
  const readme = await readFile(path.join(REPO_ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Writing a flow"));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(snippet).toBeDefined();
  const dir = await mkdtemp(path.join(tmpdir(), "dagy-readme-"));
  try {
    await writeTree(dir, {
      "package.json": JSON.stringify({ name: "readme-flow", private: true }),
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "preserve",
          moduleResolution: "bundler",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
          typeRoots: [path.join(REPO_ROOT, "node_modules", "@types")],
          paths: { dagy: [path.join(REPO_ROOT, "lib", "sdk", "index.ts")] },
        },
      }),
      "flows/order_totals.ts": snippet!,
    });
    const built = await buildFlow({ entry: "flows/order_totals.ts", cwd: dir, typecheck: true });
    expect(built.spec.name).not.toBe("etl_pipeline"); // its own name, beside the example
    const destination = path.join(dir, "totals.json");
    const run = await runDag(loadArtifact(built.artifact).dag, {
      parameters: { source: path.join(REPO_ROOT, "examples", "data", "orders.csv"), destination },
    });
    expect(run.status).toBe("SUCCEEDED");
    const totals = JSON.parse(await readFile(destination, "utf8")) as Record<string, number>;
    expect(totals["Initech, Inc."]).toBeCloseTo(1503.75);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
