/**
 * Lambda handler bundles: size and cold init time.
 *
 * Each `lambda/<name>.ts` is bundled the way the CDK stack bundles it (lib/infra/constructs/
 * dagy-function.ts): esbuild, minify, platform node, target node22, format cjs, mainFields
 * module,main, nothing external, LAMBDA_BUNDLE_ALIASES applied (the SDK's default credential
 * chain replaced by environment credentials: lambda/aws-credentials.ts). The AWS SDK v3 is
 * bundled rather than taken from the Lambda runtime: the bundle then runs the SDK version we
 * test against, and tree-shaking keeps only the clients and commands a handler imports, which
 * loads faster than the runtime's full copy (the "SDK from runtime" column measures that).
 *
 * Cold init = time for a fresh `node` process to `require()` the bundle (module-scope work:
 * SDK clients, launcher, config), median of 5 processes. Process start-up itself is excluded.
 * Targets: < 500 KB minified, < 150 ms init.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build, type Metafile } from "esbuild";
import { LAMBDA_BUNDLE_ALIASES } from "../lib/infra/constructs/dagy-function";

const HANDLERS = ["api", "registration", "launch", "task-events", "reconcile"] as const;
const TARGET_KB = 500;
const TARGET_INIT_MS = 150;
const INIT_RUNS = 5;
/** Packages that must never reach a Lambda bundle (build tooling, CDK, archive code). */
const FORBIDDEN = [
  "esbuild",
  "aws-cdk-lib",
  "constructs",
  "typescript",
  "lib/bundler/",
  "lib/artifact/",
  "lib/infra/constructs",
  "lib/launcher/local-backend",
  "@aws-sdk/credential-provider-node",
  "@aws-sdk/nested-clients",
];

/** Registration code (presigner, archive checks): the registration function's alone. */
const REGISTRATION_ONLY = [
  "@aws-sdk/s3-request-presigner",
  "tar",
  "fflate",
  "lib/storage/uploads",
  "lib/storage/archive",
  "lib/persistence/registry",
];
const FORBIDDEN_IN: Partial<Record<(typeof HANDLERS)[number], readonly string[]>> = {
  api: REGISTRATION_ONLY,
  launch: REGISTRATION_ONLY,
};

const ROOT = resolve(__dirname, "..");

/** Enough configuration for the module scope to initialize; nothing is contacted at init. */
const INIT_ENV: Record<string, string> = {
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  DAGY_ECS_CLUSTER_ARN: "arn:aws:ecs:us-east-1:123456789012:cluster/dagy",
  DAGY_ECS_EXECUTION_ROLE_ARN: "arn:aws:iam::123456789012:role/exec",
  DAGY_ECS_TASK_ROLE_ARN: "arn:aws:iam::123456789012:role/task",
  DAGY_ECS_WORKER_IMAGE: "123456789012.dkr.ecr.us-east-1.amazonaws.com/dagy-worker:latest",
  DAGY_ECS_SUBNETS: "subnet-1",
  DAGY_ECS_SECURITY_GROUPS: "sg-1",
  DAGY_ECS_LOG_GROUP: "/ecs/dagy-worker",
  DAGY_ECS_TASK_DEFINITION: "dagy-worker",
  DAGY_ARTIFACT_BUCKET: "artifacts",
  DAGY_TRACES_BUCKET: "traces",
  DAGY_FLOWS_TABLE: "flows",
  DAGY_RUNS_TABLE: "runs",
  DAGY_DEPLOYMENTS_TABLE: "deployments",
  DAGY_DEP_PACKAGES_TABLE: "dep-packages",
  DAGY_LAUNCH_FUNCTION_ARN: "arn:aws:lambda:us-east-1:123456789012:function:launch",
  DAGY_ENVIRONMENT: "develop",
  DAGY_API_AUTH_MODE: "iam",
  DAGY_ECS_CONTAINER_NAME: "worker",
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function topInputs(metafile: Metafile, count: number): string[] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, info] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const key = match ? (match[1] as string) : path.split("/").slice(0, 2).join("/");
      byPackage.set(key, (byPackage.get(key) ?? 0) + info.bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, bytes]) => `${key} ${(bytes / 1024).toFixed(0)} KB`);
}

function initTimeMs(bundle: string): number {
  const script =
    "const t=process.hrtime.bigint();require(process.argv[1]);" +
    "process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));";
  const out = spawnSync(process.execPath, ["-e", script, bundle], {
    // NODE_NO_WARNINGS: the SDK's Node-version notice is not part of the measurement.
    env: { PATH: process.env.PATH ?? "", NODE_NO_WARNINGS: "1", ...INIT_ENV },
    encoding: "utf8",
  });
  if (out.status !== 0) throw new Error(`init of ${bundle} failed: ${out.stderr}`);
  return Number(out.stdout);
}

interface Variant {
  readonly kb: number;
  readonly initMs: number;
  readonly metafile: Metafile;
}

/**
 * `sdkExternal`: the AWS SDK left to the Lambda runtime (resolved from the repo's node_modules
 * here). `aliases`: false for the SDK's own default credential chain.
 */
async function measure(
  entry: string | { contents: string },
  outfile: string,
  sdkExternal: boolean,
  aliases = true,
): Promise<Variant> {
  const result = await build({
    ...(typeof entry === "string"
      ? { entryPoints: [entry] }
      : { stdin: { contents: entry.contents, resolveDir: ROOT, loader: "ts" as const } }),
    outfile,
    bundle: true,
    minify: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    mainFields: ["module", "main"],
    tsconfig: join(ROOT, "tsconfig.json"),
    metafile: true,
    logLevel: "error",
    // The aliases' paths are relative to the project root, as in the CDK bundling.
    absWorkingDir: ROOT,
    ...(aliases ? { alias: { ...LAMBDA_BUNDLE_ALIASES } } : {}),
    ...(sdkExternal ? { external: ["@aws-sdk/*", "@smithy/*"] } : {}),
  });
  const kb = statSync(outfile).size / 1024;
  const times = Array.from({ length: INIT_RUNS }, () => initTimeMs(outfile));
  return { kb, initMs: median(times), metafile: result.metafile };
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dagy-bench-handlers-"));
  // External SDK imports must resolve from the repo, so those bundles are written inside it.
  const externalDir = mkdtempSync(join(ROOT, "node_modules", ".dagy-bench-"));
  try {
    console.log(
      `targets: bundle < ${TARGET_KB} KB minified, cold init < ${TARGET_INIT_MS} ms (median of ${INIT_RUNS} fresh node processes)`,
    );
    console.log(
      "bundling: as the CDK stack (esbuild minify, platform node, target node22, cjs, mainFields module,main), " +
        "AWS SDK v3 bundled and tree-shaken: the tested SDK version, and only the imported clients/commands load; " +
        "credentials from the environment only (the Lambda runtime's), not the SDK's default chain",
    );
    const oneClient = {
      contents:
        'import { DynamoDBClient } from "@aws-sdk/client-dynamodb"; export const c = new DynamoDBClient({});',
    };
    const floor = await measure(oneClient, join(dir, "baseline.js"), false);
    const floorChain = await measure(oneClient, join(dir, "baseline-chain.js"), false, false);
    console.log(
      `baseline (a bundle holding only one DynamoDBClient, the floor every handler pays): ` +
        `${floor.kb.toFixed(0)} KB, init ${floor.initMs.toFixed(1)} ms; ` +
        `with the SDK's default credential chain ${floorChain.kb.toFixed(0)} KB, init ${floorChain.initMs.toFixed(1)} ms`,
    );
    for (const name of HANDLERS) {
      const entry = join(ROOT, "lambda", `${name}.ts`);
      const bundled = await measure(entry, join(dir, `${name}.js`), false);
      const chain = await measure(entry, join(dir, `${name}-chain.js`), false, false);
      const external = await measure(entry, join(externalDir, `${name}.js`), true, false);
      const inputs = Object.keys(bundled.metafile.inputs);
      const forbidden = [...FORBIDDEN, ...(FORBIDDEN_IN[name] ?? [])].filter((f) =>
        inputs.some((p) => p.includes(`node_modules/${f}/`) || p.startsWith(f)),
      );
      const verdict =
        bundled.kb < TARGET_KB && bundled.initMs < TARGET_INIT_MS ? "ok" : "OVER TARGET";
      console.log(
        `${name.padEnd(12)} ${bundled.kb.toFixed(0).padStart(5)} KB  init ${bundled.initMs.toFixed(1).padStart(6)} ms  ${verdict}` +
          `   | default credential chain: ${chain.kb.toFixed(0)} KB, init ${chain.initMs.toFixed(1)} ms` +
          ` | SDK from runtime: ${external.kb.toFixed(0)} KB, init ${external.initMs.toFixed(1)} ms` +
          (forbidden.length > 0 ? `  FORBIDDEN: ${forbidden.join(", ")}` : ""),
      );
      console.log(`  largest: ${topInputs(bundled.metafile, 6).join(", ")}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(externalDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
