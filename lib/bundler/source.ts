import * as path from "node:path";
import { loadFlowBundle, type LoadFlowOptions } from "../artifact/loader";
import type { Dag } from "../sdk";
import { bundleFlow, resolveEntry } from "./bundle";

/**
 * Loads a flow straight from its TypeScript/JavaScript source: bundles it in memory exactly as
 * `dagy build` does and loads that bundle, so source runs and artifact runs share one path.
 */
export async function loadFlowSource(
  entry: string,
  options: LoadFlowOptions & { cwd?: string } = {},
): Promise<Dag> {
  const cwd = options.cwd ?? process.cwd();
  const entryAbs = resolveEntry(entry, cwd);
  const sourceName = options.sourceName ?? path.relative(cwd, entryAbs);
  const bundle = await bundleFlow(entryAbs, sourceName);
  return loadFlowBundle(bundle.code, bundle.filename, { ...options, sourceName });
}
