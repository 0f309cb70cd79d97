/**
 * What the handler bundles may contain, bundled as the stack bundles them (esbuild with the
 * construct's aliases): no LocalBackend (child processes, tsx), no build tooling, not the
 * SDK's default credential chain (SSO/INI/process providers and their STS/SSO clients), and
 * in the launching handlers (api, launch) no S3 client.
 */
import { build } from "esbuild";
import * as path from "node:path";
import { LAMBDA_BUNDLE_ALIASES } from "../../lib/infra/constructs/dagy-function";

const ROOT = path.resolve(__dirname, "../..");
const FORBIDDEN = [
  "lib/launcher/local-backend.ts",
  "lib/bundler/",
  "lib/artifact/",
  "node_modules/esbuild/",
  "node_modules/aws-cdk-lib/",
  "node_modules/@aws-sdk/credential-provider-node/",
  "node_modules/@aws-sdk/credential-provider-sso/",
  "node_modules/@aws-sdk/nested-clients/",
];

/** What only registering flows and packages needs. */
const REGISTRATION_CODE = [
  "node_modules/@aws-sdk/s3-request-presigner/",
  "node_modules/tar/",
  "node_modules/fflate/",
  "lib/storage/uploads.ts",
  "lib/persistence/registry.ts",
];

async function bundleInputs(handler: string): Promise<string[]> {
  const result = await build({
    entryPoints: [path.join(ROOT, "lambda", `${handler}.ts`)],
    bundle: true,
    write: false,
    minify: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    mainFields: ["module", "main"],
    tsconfig: path.join(ROOT, "tsconfig.json"),
    absWorkingDir: ROOT,
    alias: { ...LAMBDA_BUNDLE_ALIASES },
    metafile: true,
    logLevel: "silent",
  });
  return Object.keys(result.metafile.inputs);
}

describe("Lambda handler bundles", () => {
  it.each(["api", "registration", "launch", "task-events", "reconcile"])(
    "%s carries environment credentials only, and neither LocalBackend nor build tooling",
    async (handler) => {
      const inputs = await bundleInputs(handler);
      expect(inputs.filter((p) => FORBIDDEN.some((f) => p.includes(f)))).toEqual([]);
      expect(inputs).toContain("lambda/aws-credentials.ts");
      // No S3 client where no S3 call is made: the launcher keeps large parameters in the run
      // record. (The api reads tracebacks and spills parameters; registration stages uploads.)
      if (handler !== "api" && handler !== "registration") {
        expect(inputs.filter((p) => p.includes("node_modules/@aws-sdk/client-s3/"))).toEqual([]);
      }
      expect(inputs.some((p) => p.includes("node_modules/@aws-sdk/client-dynamodb/"))).toBe(true);
      expect(inputs.some((p) => p.includes("node_modules/@aws-sdk/credential-provider-env/"))).toBe(
        true,
      );
    },
  );

  it("api holds none of the registration code (presigner, archive checks): that is the registration function's", async () => {
    const api = await bundleInputs("api");
    const registration = await bundleInputs("registration");
    for (const code of REGISTRATION_CODE) {
      expect([code, api.filter((p) => p.includes(code))]).toEqual([code, []]);
      expect([code, registration.some((p) => p.includes(code))]).toEqual([code, true]);
    }
  });
});
