import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

/** End-to-end: the real `dagy` executable in a child process, as a user runs it. */

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const DAGY = path.join(REPO_ROOT, "bin", "dagy.js");
const ETL = "examples/flows/etl_pipeline.ts";
const ORDERS = "examples/data/orders.csv";

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function dagy(args: string[], cwd = REPO_ROOT): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DAGY, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "dagy-cli-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("dagy run", () => {
  test("runs the ETL example from source and writes the report", async () => {
    const out = path.join(dir, "source", "orders.json");
    const result = await dagy([
      "run",
      ETL,
      "--param",
      "date=2024-03-14",
      "--param",
      `source=${ORDERS}`,
      "--param",
      `destination=${out}`,
    ]);

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Running etl_pipeline 1.0.0");
    expect(result.stdout).toMatch(/ {2}extract +succeeded in \d+ ms/);
    expect(result.stdout).toMatch(/load +SUCCEEDED +1 +\d+ ms/);
    expect(result.stdout).toMatch(/Run succeeded in /);

    const report = JSON.parse(await readFile(out, "utf8"));
    expect(report.order_count).toBe(20);
    expect(report.orders[2]).toEqual({
      order_id: "1003",
      customer: "Initech, Inc.",
      amount_cents: 43050,
      currency: "EUR",
      created_at: "2024-03-01T10:47:12.000Z",
      processed: true,
    });
    expect(report.totals_by_currency).toEqual({ EUR: "1733.75", GBP: "2153.73", USD: "15414.56" });
  });

  test("an artifact built by dagy build writes the byte-identical report", async () => {
    const zip = path.join(dir, "etl.zip");
    const build = await dagy(["build", ETL, "--output", zip, "--version", "1.0.1"]);
    expect(build.code).toBe(0);
    expect(build.stdout).toContain(`Built etl_pipeline 1.0.1 -> ${zip}`);
    expect(build.stdout).toMatch(/tasks {4}3\n/);
    expect(build.stdout).toMatch(/sha256 {3}[0-9a-f]{64}\n/);

    const fromSource = path.join(dir, "cmp", "source.json");
    const fromArtifact = path.join(dir, "cmp", "artifact.json");
    const [a, b] = await Promise.all([
      dagy([
        "run",
        ETL,
        "-p",
        "date=2024-03-14",
        "-p",
        `source=${ORDERS}`,
        "-p",
        `destination=${fromSource}`,
      ]),
      dagy([
        "run",
        zip,
        "-p",
        "date=2024-03-14",
        "-p",
        `source=${ORDERS}`,
        "-p",
        `destination=${fromArtifact}`,
      ]),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(b.stdout).toContain("Running etl_pipeline 1.0.1");
    expect((await readFile(fromArtifact)).equals(await readFile(fromSource))).toBe(true);
  });

  test("a failing flow exits 1 with the task's stack trace mapped to the source", async () => {
    const flow = path.join(dir, "failing.ts");
    await writeFile(
      flow,
      `import { dag, task } from "dagy";

function check(n: number): number {
  if (n > 1) {
    throw new Error(\`value too large: \${n}\`);
  }
  return n;
}

const a = task("a", () => 2);
const b = task("b", ({ v }: { v: number }) => check(v), { retries: 1, retryDelayMs: 1 });
const c = task("c", ({ v }: { v: number }) => v);

export default dag("failing", {}, () => {
  c({ v: b({ v: a() }) });
});
`,
    );
    const result = await dagy(["run", flow]);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain("attempt 1 failed: value too large: 2; retrying in 1 ms");
    expect(result.stdout).toMatch(/c +skipped/);
    expect(result.stdout).toMatch(/b +FAILED +2 /);
    expect(result.stderr).toContain(
      'dagy: error: task "b" failed after 2 attempts: value too large: 2\nError: value too large: 2\n',
    );
    expect(result.stderr).toContain(`at check (${flow}:5:11)`);
  });

  test("a missing required parameter exits 2 naming it, and runs nothing", async () => {
    const out = path.join(dir, "never", "orders.json");
    const result = await dagy(["run", ETL, "--param", `source=${ORDERS}`]);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      'dagy: error: missing required parameter "date" of type string ' +
        "(Day the report is for (YYYY-MM-DD))\n",
    );
    await expect(readFile(out)).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("--json prints one executor event per line", async () => {
    const result = await dagy(["run", "examples/flows/hello.ts", "--json", "--param", "name=007"]);

    expect(result.code).toBe(0);
    const events = result.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((e) => e.event_type)).toEqual([
      "run_started",
      "task_started",
      "task_log",
      "task_succeeded",
      "run_succeeded",
    ]);
    // `name` is declared a string, so "007" is not read as the number 7.
    expect(events[2]!.message).toBe("Hello, 007!");
    expect(new Set(events.map((e) => e.run_id)).size).toBe(1);
  });
});

describe("dagy graph", () => {
  test("prints the fan-out DAG as a Mermaid flowchart", async () => {
    const result = await dagy(["graph", "examples/flows/fan_out.ts"]);

    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("flowchart TD");
    // plan -> the mapped shard task (one node, however many shards run) -> merge.
    const labels = new Map<string, string>();
    for (const line of lines) {
      const m = /^\s+(\w+)\["([^" ]+)/.exec(line);
      if (m) labels.set(m[1]!, m[2]!);
    }
    const edges = lines
      .map((line) => /^\s+(\w+) --> (\w+)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${labels.get(m[1]!)}->${labels.get(m[2]!)}`)
      .sort();
    expect(edges).toEqual(["plan->sum_shard", "sum_shard->merge"]);
    expect(lines).toContain('  t1["sum_shard (map)"]');
  });
});
