import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { loadFlowSource } from "../bundler/source";
import type { Dag, FlowSpec } from "../sdk";
import { ValidationError } from "../errors";
import type { CliIO } from "./io";

export interface LoadedTarget {
  readonly dag: Dag;
  /** For artifacts, their `flow_spec.json` (which carries a `--version` given at build). */
  readonly spec: FlowSpec;
  readonly kind: "source" | "artifact";
}

/** `dagy run` and `dagy graph` accept a flow source file or an artifact zip. */
export function isArtifactPath(target: string): boolean {
  return path.extname(target).toLowerCase() === ".zip";
}

export async function loadTarget(target: string, io: CliIO): Promise<LoadedTarget> {
  if (isArtifactPath(target)) {
    let zip: Buffer;
    try {
      zip = await readFile(path.resolve(io.cwd, target));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new ValidationError(`artifact not found: ${target}`, "artifact");
      }
      throw error;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const reader = require("../artifact/artifact") as typeof import("../artifact/artifact");
    const loaded = reader.loadArtifact(zip);
    return { dag: loaded.dag, spec: loaded.spec, kind: "artifact" };
  }
  const dag = await loadFlowSource(target, { cwd: io.cwd });
  return { dag, spec: dag.toSpec(), kind: "source" };
}
