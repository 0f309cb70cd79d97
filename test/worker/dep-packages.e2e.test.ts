/**
 * Dependency packages end to end: registered packages (zip and tar.gz) reach the worker through
 * a deployment and DAGY_DEP_PACKAGE_URIS, and the flow's code imports them; an unsafe archive
 * fails the run with a message naming the entry.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { zipSync, strToU8 } from "fflate";
import { create as createTar } from "tar";
import { registerDepPackage } from "../../lib/persistence";
import { createZip, sha256Hex } from "../../lib/storage";
import { EXIT_CODES } from "../../lib/worker/run-host";
import {
  newOrg,
  registerTestFlow,
  startWorkerHarness,
  waitForRun,
  type WorkerHarness,
} from "./support";

let h: WorkerHarness;

beforeAll(async () => {
  h = await startWorkerHarness();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

/** The guide's layout, in Node terms: package.json names the package, folders are modules. */
function myDepsZip(): Buffer {
  return createZip({
    "package.json": JSON.stringify({ name: "my-deps", version: "1.0.0", main: "index.js" }),
    "index.js": "module.exports = {};\n",
    "helpers.js": "exports.greet = (name) => `Hello, ${name}, from my-deps`;\n",
    "custom_module/index.js": "exports.answer = 42;\n",
  });
}

/** A tar.gz with no package.json: resolvable by its slug, its folders as modules. */
async function sharedTextTarGz(): Promise<Buffer> {
  const src = path.join(h.dir, "shared-text-src");
  mkdirSync(path.join(src, "text_tools"), { recursive: true });
  writeFileSync(
    path.join(src, "text_tools", "index.js"),
    "exports.shout = (text) => text.toUpperCase() + '!';\n",
  );
  const file = path.join(h.dir, "shared-text.tar.gz");
  await createTar({ gzip: true, file, cwd: src, portable: true }, ["text_tools"]);
  return readFileSync(file);
}

async function deploy(
  orgId: string,
  packages: Array<{ slug: string; archive: Buffer; format: "zip" | "tar.gz" }>,
) {
  for (const p of packages) {
    await registerDepPackage({
      persistence: h.persistence,
      store: h.store,
      artifactBucket: h.env.buckets.artifacts,
      orgId,
      slug: p.slug,
      version: "1.0.0",
      archive: p.archive,
      format: p.format,
    });
  }
  await h.persistence.deployments.put({
    org_id: orgId,
    deployment_name: "production",
    environment: "production",
    dep_package_slugs: packages.map((p) => p.slug),
    updated_at: new Date().toISOString(),
  });
}

describe("worker dependency packages", () => {
  it("installs zip and tar.gz packages and the flow imports their modules", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "uses_deps");
    await deploy(orgId, [
      { slug: `my-deps-${orgId}`, archive: myDepsZip(), format: "zip" },
      { slug: "shared-text", archive: await sharedTextTarGz(), format: "tar.gz" },
    ]);
    const output = path.join(h.dir, `${orgId}-deps.json`);
    const { runId, success, errorMessage } = await h.launcher.launch({
      flowName: "uses_deps",
      orgId,
      deploymentName: "production",
      parameters: { output },
    });
    expect({ success, errorMessage }).toEqual({ success: true, errorMessage: undefined });

    const run = await waitForRun(h, runId);
    expect({ status: run.status, error: run.error_message ?? null }).toEqual({
      status: "SUCCEEDED",
      error: null,
    });
    expect(run.dep_package_uris).toHaveLength(2);
    expect(JSON.parse(readFileSync(output, "utf8"))).toEqual({
      greeting: "Hello, Dagy, from my-deps",
      answer: 42,
      shout: "HI!",
      same_module: true,
    });
    expect((await h.exited(runId)).code).toBe(EXIT_CODES.succeeded);
  });

  it("refuses a zip-slip package: the run FAILED and the message names the entry", async () => {
    const orgId = newOrg();
    await registerTestFlow(h, orgId, "uses_deps");
    const evil = Buffer.from(
      zipSync({
        "package.json": strToU8(JSON.stringify({ name: "evil-deps" })),
        "../../escaped.js": strToU8("module.exports = 'pwned';\n"),
      }),
    );
    const slug = `evil-${orgId}`;
    // Push refuses it; extraction must refuse it again if it reaches the bucket another way
    // (written before push checked, or straight to S3): swap the bytes behind a pushed package.
    await expect(deploy(orgId, [{ slug, archive: evil, format: "zip" }])).rejects.toThrow(
      /archive refused: unsafe archive entry "\.\.\/\.\.\/escaped\.js"/,
    );
    await deploy(orgId, [{ slug, archive: createZip({ "index.js": "" }), format: "zip" }]);
    const record = (await h.persistence.depPackages.get(slug))!;
    await h.store.put(record.package_s3_uri, evil);
    await h.persistence.depPackages.put({ ...record, sha256: sha256Hex(evil) });
    const output = path.join(h.dir, `${orgId}-never.json`);
    const { runId } = await h.launcher.launch({
      flowName: "uses_deps",
      orgId,
      deploymentName: "production",
      parameters: { output },
    });

    const run = await waitForRun(h, runId);
    expect(run.status).toBe("FAILED");
    expect(run.error_message).toContain(`dep-packages/evil-${orgId}.zip was refused`);
    expect(run.error_message).toContain('"../../escaped.js"');
    expect(run.traceback_uri).toEqual(expect.stringContaining(`exceptions/${orgId}/${runId}/`));
    expect(Object.keys(run.task_states ?? {})).toEqual([]);
    expect((await h.exited(runId)).code).toBe(EXIT_CODES.workerError);
  });
});
