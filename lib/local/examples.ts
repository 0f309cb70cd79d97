/** Example flows registered at start, and the guide's example input seeded into local S3. */
import { readFile, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import type { DataClients } from "../aws/clients";
import { buildFlow } from "../bundler/build";
import type { Persistence } from "../persistence/persistence";
import type { ObjectStore } from "../storage/object-store";
import type { ExampleRegistration } from "./platform-types";
import { registerArtifact } from "./registration";

/** The repository (package) root: lib/local -> ../.. */
export const PACKAGE_ROOT = resolve(__dirname, "..", "..");

/**
 * The object the guide's example request reads (`"source": "s3://bucket/input.csv"`), put in the
 * local S3 at start when absent: the example orders.
 */
export const EXAMPLE_INPUT = {
  bucket: "bucket",
  key: "input.csv",
  file: join(PACKAGE_ROOT, "examples", "data", "orders.csv"),
} as const;

export async function seedExampleInput(s3: DataClients["s3"]): Promise<void> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: EXAMPLE_INPUT.bucket, Key: EXAMPLE_INPUT.key }));
    return;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404)
      throw error;
  }
  const body = await readFile(EXAMPLE_INPUT.file).catch(() => undefined);
  if (body === undefined) return; // An installed package without the examples: nothing to seed.
  await s3.send(
    new PutObjectCommand({
      Bucket: EXAMPLE_INPUT.bucket,
      Key: EXAMPLE_INPUT.key,
      Body: body,
      ContentType: "text/csv",
    }),
  );
}

export async function listExampleFlows(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names
    .filter((n) => /\.(ts|js|mts|mjs)$/.test(n) && !n.endsWith(".d.ts") && !n.includes(".test."))
    .sort()
    .map((n) => join(dir, n));
}

export async function registerExamples(
  files: readonly string[],
  target: { persistence: Persistence; store: ObjectStore; artifactBucket: string },
  orgId: string,
  root: string = PACKAGE_ROOT,
): Promise<ExampleRegistration[]> {
  return Promise.all(
    files.map(async (file): Promise<ExampleRegistration> => {
      const relative = file.startsWith(root) ? file.slice(root.length + 1) : file;
      try {
        // cwd = the package (or project) root, so metadata.source (and the bytes) do not depend
        // on where `dagy dev` was started.
        const built = await buildFlow({ entry: file, cwd: root });
        const outcome = await registerArtifact(target, orgId, built.spec, built.artifact);
        return {
          file: relative,
          flowName: built.spec.name,
          version: built.spec.version,
          status: outcome.status,
          ...(outcome.status === "conflict" ? { message: outcome.message } : {}),
        };
      } catch (error) {
        return {
          file: relative,
          status: "failed",
          message: error instanceof Error ? error.message : String(error),
        };
      }
    }),
  );
}
