import { existsSync, readFileSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import * as path from "node:path";
import { UsageError } from "./io";

/** Where `dagy dev` looks for a project's flows when neither --flows nor package.json says. */
export const DEFAULT_FLOWS_GLOB = "flows/*.ts";

/** Folders never searched: dependencies, build output, the platform's data. */
const SKIPPED_DIRS = new Set(["node_modules", ".git", ".dagy", "dist", "cdk.out", "coverage"]);

export interface FlowsSetting {
  /** Globs relative to the project directory. */
  readonly globs: readonly string[];
  /** Where they came from, for the start-up banner. */
  readonly from: string;
}

/**
 * Which flows `dagy dev` registers for a project: `--flows <glob>`, else `dagy.flows` in the
 * project's package.json (a glob or a list of globs), else `flows/*.ts` when a `flows/` folder
 * exists. Undefined: the project names no flows (Dagy's own examples are registered instead).
 */
export function flowsSetting(cwd: string, flag: string | undefined): FlowsSetting | undefined {
  if (flag !== undefined) return { globs: [flag], from: "--flows" };
  const packageFile = path.join(cwd, "package.json");
  if (existsSync(packageFile)) {
    let configured: unknown;
    try {
      configured = (JSON.parse(readFileSync(packageFile, "utf8")) as { dagy?: { flows?: unknown } })
        .dagy?.flows;
    } catch (error) {
      throw new UsageError(`cannot read ${packageFile}: ${(error as Error).message}`, "dev");
    }
    if (typeof configured === "string") {
      return { globs: [configured], from: "package.json dagy.flows" };
    }
    if (Array.isArray(configured) && configured.every((g) => typeof g === "string")) {
      return { globs: configured, from: "package.json dagy.flows" };
    }
    if (configured !== undefined) {
      throw new UsageError(
        `${packageFile}: "dagy.flows" must be a glob or a list of globs, e.g. "flows/*.ts"`,
        "dev",
      );
    }
  }
  const flowsDir = path.join(cwd, "flows");
  if (existsSync(flowsDir) && statSync(flowsDir).isDirectory()) {
    return { globs: [DEFAULT_FLOWS_GLOB], from: "flows/" };
  }
  return undefined;
}

/** A glob (`*`, `?`, `**`, `{a,b}`; `/` separators) as a regular expression over posix paths. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      // `**/` matches any number of folders, including none.
      const slash = glob[i + 2] === "/";
      out += slash ? "(?:[^/]+/)*" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "{") {
      const close = glob.indexOf("}", i);
      if (close < 0) out += "\\{";
      else {
        const options = glob.slice(i + 1, close).split(",");
        out += `(?:${options.map((o) => o.replace(/[.+^$()|[\]\\]/g, "\\$&")).join("|")})`;
        i = close;
      }
    } else out += c.replace(/[.+^$()|[\]\\{}]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

async function walk(dir: string, base: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) await walk(path.join(dir, entry.name), base, out);
    } else if (entry.isFile()) {
      out.push(path.relative(base, path.join(dir, entry.name)).split(path.sep).join("/"));
    }
  }
}

/**
 * The flow files the globs match under `cwd` (absolute, sorted), leaving out declaration files
 * and tests. Searches only below each glob's fixed leading folders.
 */
export async function findFlowFiles(cwd: string, globs: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const raw of globs) {
    const glob = raw.replace(/^\.\//, "");
    const fixed = glob.split("/");
    const wildcard = fixed.findIndex((part) => /[*?{]/.test(part));
    const prefix = wildcard < 0 ? fixed.slice(0, -1) : fixed.slice(0, wildcard);
    const files: string[] = [];
    await walk(path.join(cwd, ...prefix), cwd, files);
    const pattern = globToRegExp(glob);
    for (const file of files) {
      if (!pattern.test(file)) continue;
      if (file.endsWith(".d.ts") || /\.(test|spec)\.[cm]?[jt]s$/.test(file)) continue;
      if (!/\.[cm]?[jt]s$/.test(file)) continue;
      found.add(path.join(cwd, file));
    }
  }
  return [...found].sort();
}
