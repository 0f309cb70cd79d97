/** Locations in the repository the stack builds from (code locations, not configuration). */
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** Dockerfile of the worker image, relative to `REPO_ROOT` (the build context). */
export const WORKER_DOCKERFILE = "Dockerfile.worker";

/**
 * Kept out of the worker image's build context: they are large, machine-specific or secret,
 * and they would change the asset hash without changing the image.
 */
export const WORKER_ASSET_EXCLUDES = [
  "node_modules",
  "cdk.out",
  ".dagy",
  ".git",
  "test",
  "coverage",
  "dist",
  "*.log",
  ".env*",
];

export const LAMBDA_ENTRIES = {
  api: path.join(REPO_ROOT, "lambda", "api.ts"),
  registration: path.join(REPO_ROOT, "lambda", "registration.ts"),
  launch: path.join(REPO_ROOT, "lambda", "launch.ts"),
  taskEvents: path.join(REPO_ROOT, "lambda", "task-events.ts"),
  reconcile: path.join(REPO_ROOT, "lambda", "reconcile.ts"),
  /** Warm pools only: launches cold the warm dispatches no worker claimed in time. */
  warmFallback: path.join(REPO_ROOT, "lambda", "warm-fallback.ts"),
} as const;
