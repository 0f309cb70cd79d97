import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { DEFAULT_TYPECHECK_OPTIONS } from "../bundler/typecheck";
import { parseCommandArgs } from "./args";
import { EXIT, UsageError, type CliCommand } from "./io";

const usage = `Usage: dagy init [dir] [options]

Scaffolds a flow project in dir (default: the current directory): package.json scripts
(build, run, dev, test, typecheck), tsconfig.json, an example flow (flows/word_count.ts), a
test of it with dagy/testing (test/word_count.test.ts) and .gitignore. Existing files are kept;
an existing package.json only gains the scripts and settings it lacks.

Options:
      --force        Overwrite existing files (package.json is still merged, never replaced).
  -h, --help         Show this help.

Then, in dir:
  npm install --save-dev <dagy tarball or git URL>   (unless dagy is installed there already)
  npm test && npm run build && npm run dev
`;

const FLOW = `/**
 * An example flow: count the words of a text, then keep the most frequent ones.
 *
 *   npx dagy run flows/word_count.ts --param text="the quick brown fox jumps over the lazy dog"
 */
import { dag, task } from "dagy";

export const split = task("split", ({ text }: { text: string }, ctx): string[] => {
  const words = text.toLowerCase().match(/[\\p{L}\\p{N}']+/gu) ?? [];
  ctx.log.info("split the text", { words: words.length });
  return words;
});

export interface WordCount {
  word: string;
  count: number;
}

export const count = task(
  "count",
  ({ words, top }: { words: string[]; top: number }): WordCount[] => {
    const counts = new Map<string, number>();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    return [...counts.entries()]
      .map(([word, n]) => ({ word, count: n }))
      .sort((a, b) => b.count - a.count || (a.word < b.word ? -1 : 1))
      .slice(0, top);
  },
  { retries: 1 },
);

export default dag(
  "word_count",
  {
    version: "1.0.0",
    description: "Count the words of a text and keep the most frequent ones",
    parameters: {
      text: { type: "string", description: "The text to count" },
      top: { type: "integer", default: 3, description: "How many words to keep" },
    },
  },
  () => {
    const words = split({ text: "{{ parameters.text }}" });
    count({ words, top: "{{ parameters.top }}" });
  },
);
`;

const TEST = `import assert from "node:assert/strict";
import { test } from "node:test";
import { testFlow } from "dagy/testing";
import wordCount, { count, split } from "../flows/word_count";

test("word_count keeps the most frequent words", async () => {
  const run = await testFlow(wordCount, {
    parameters: { text: "the cat and the hat and the bat", top: 2 },
  });
  assert.equal(run.status, "SUCCEEDED");
  assert.deepEqual(run.outputOf(count), [
    { word: "the", count: 3 },
    { word: "and", count: 2 },
  ]);
});

test("a stubbed task: count runs on what the stub returns", async () => {
  const run = await testFlow(wordCount, {
    parameters: { text: "ignored" },
    stubs: { split: () => ["b", "a", "b"] },
  });
  assert.deepEqual(run.outputOf(count), [
    { word: "b", count: 2 },
    { word: "a", count: 1 },
  ]);
  assert.deepEqual(run.outputOf(split), ["b", "a", "b"]);
});
`;

const TSCONFIG = {
  compilerOptions: {
    ...DEFAULT_TYPECHECK_OPTIONS,
    lib: [...DEFAULT_TYPECHECK_OPTIONS.lib],
    types: ["node"],
    noEmit: true,
  },
  include: ["flows", "test"],
};

const GITIGNORE = `node_modules/
dist/
.dagy/
*.zip
`;

/** Scripts a scaffolded project gets; an existing package.json keeps its own of these names. */
const SCRIPTS: Record<string, string> = {
  build: "dagy build flows/word_count.ts --output dist/word_count.zip",
  run: 'dagy run flows/word_count.ts --param text="the quick brown fox jumps over the lazy dog"',
  dev: "dagy dev",
  test: "node --import tsx --test test/*.test.ts",
  typecheck: "tsc --noEmit",
};

/** npm's rules for a package name, from a folder name. */
function packageNameFor(dir: string): string {
  const name = path
    .basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, "-")
    .replace(/^[._-]+/, "");
  return name === "" ? "flows" : name.slice(0, 214);
}

type Outcome = "created" | "kept" | "overwritten" | "updated";

export const command: CliCommand = {
  name: "init",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "init", usage }, args, io, {
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    if (positionals.length > 1) {
      throw new UsageError(`expected at most one directory, got ${positionals.join(" ")}`, "init");
    }
    const dir = path.resolve(io.cwd, positionals[0] ?? ".");
    await mkdir(dir, { recursive: true });
    const results: Array<[string, Outcome]> = [];

    const put = async (relative: string, text: string): Promise<void> => {
      const file = path.join(dir, relative);
      const exists = existsSync(file);
      if (exists && values.force !== true) {
        results.push([relative, "kept"]);
        return;
      }
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
      results.push([relative, exists ? "overwritten" : "created"]);
    };

    // package.json: merged, never replaced (it may hold the user's dependencies already).
    const packageFile = path.join(dir, "package.json");
    let manifest: Record<string, unknown> = {};
    const existed = existsSync(packageFile);
    if (existed) {
      try {
        manifest = JSON.parse(await readFile(packageFile, "utf8")) as Record<string, unknown>;
      } catch (error) {
        throw new UsageError(`cannot read ${packageFile}: ${(error as Error).message}`, "init");
      }
    } else {
      manifest = { name: packageNameFor(dir), version: "0.1.0", private: true };
    }
    const scripts = { ...(manifest.scripts as Record<string, string> | undefined) };
    for (const [name, script] of Object.entries(SCRIPTS)) scripts[name] ??= script;
    const dagy = { ...(manifest.dagy as Record<string, unknown> | undefined) };
    dagy.flows ??= "flows/*.ts";
    const merged = { ...manifest, scripts, dagy };
    const text = `${JSON.stringify(merged, null, 2)}\n`;
    if (!existed || text !== (await readFile(packageFile, "utf8"))) {
      await writeFile(packageFile, text);
      results.push(["package.json", existed ? "updated" : "created"]);
    } else {
      results.push(["package.json", "kept"]);
    }

    await put("tsconfig.json", `${JSON.stringify(TSCONFIG, null, 2)}\n`);
    await put("flows/word_count.ts", FLOW);
    await put("test/word_count.test.ts", TEST);
    await put(".gitignore", GITIGNORE);

    const shown = path.relative(io.cwd, dir) || ".";
    const lines = [`Scaffolded a Dagy flow project in ${shown}:`];
    for (const [file, outcome] of results) lines.push(`  ${outcome.padEnd(11)} ${file}`);
    lines.push("", "Next:");
    if (shown !== ".") lines.push(`  cd ${shown}`);
    if (!existsSync(path.join(dir, "node_modules", "dagy", "package.json"))) {
      lines.push("  npm install --save-dev <dagy tarball or git URL>");
    }
    lines.push(
      "  npm test            # the flow's tests (dagy/testing)",
      "  npm run build       # type-check and bundle: dist/word_count.zip",
      "  npm run run         # run it here, no platform",
      "  npm run dev         # the local platform, with this project's flows registered",
      "",
    );
    io.stdout(lines.join("\n"));
    return EXIT.ok;
  },
};
