/**
 * Dependency package installation: layout, naming, when `npm install` runs, and refusals.
 * Packages are read from local S3 (s3rver) as in a run.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";
import { strToU8, zipSync } from "fflate";
import { ArtifactError } from "../../lib/errors";
import { ObjectStore, createZip } from "../../lib/storage";
import {
  installDepPackages,
  packageNameFromUri,
  type NpmInstaller,
} from "../../lib/worker/dep-packages";
import { startTestEnv, type TestEnv } from "../support/local-servers";
import { tarGz } from "../storage/tar-fixtures";

let env: TestEnv;
let store: ObjectStore;
let dir: string;
let n = 0;

beforeAll(async () => {
  env = await startTestEnv();
  store = new ObjectStore(env.clients.s3);
}, 60_000);
afterAll(async () => {
  await env?.close();
});
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dagy-deps-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function upload(name: string, zip: Buffer): Promise<string> {
  const uri = `s3://${env.buckets.artifacts}/dep-packages/${name}`;
  await store.put(uri, zip);
  return uri;
}

function recordingInstaller(): { calls: string[]; install: NpmInstaller } {
  const calls: string[] = [];
  return { calls, install: async (packageDir) => void calls.push(packageDir) };
}

/** Resolves modules the way the flow loader does: extraNodePaths first. */
function resolverFor(nodePaths: readonly string[]) {
  const req = createRequire(path.join(dir, "flow.js"));
  return (id: string) => req(req.resolve(id, { paths: [...nodePaths] })) as unknown;
}

describe("installDepPackages", () => {
  it("makes a package resolvable by its package.json name and its folders as modules", async () => {
    const uri = await upload(
      `pkg-${n++}.zip`,
      createZip({
        "package.json": JSON.stringify({ name: "@acme/shared", version: "1.0.0" }),
        "index.js": "exports.root = true;\n",
        "helpers.js": "exports.helper = () => 'helped';\n",
        "custom_module/index.js": "exports.answer = 42;\n",
      }),
    );
    const { calls, install } = recordingInstaller();
    const result = await installDepPackages({
      uris: [uri],
      store,
      workDir: dir,
      npmInstall: install,
    });

    const pkgDir = path.join(dir, "node_modules", "@acme", "shared");
    expect(result.packages).toEqual([
      { uri, name: "@acme/shared", dir: pkgDir, installedDependencies: false },
    ]);
    expect(result.nodePaths).toEqual([path.join(dir, "node_modules"), pkgDir]);
    expect(calls).toEqual([]);
    const load = resolverFor(result.nodePaths);
    expect(load("@acme/shared")).toEqual({ root: true });
    expect((load("@acme/shared/helpers") as { helper(): string }).helper()).toBe("helped");
    expect(load("custom_module")).toEqual({ answer: 42 });
  });

  it("names a package without package.json after its archive, and unwraps a single top folder", async () => {
    const uri = await upload(
      `wrapped-${n++}.zip`,
      createZip({
        "wrapped/package.json": JSON.stringify({ name: "wrapped-deps" }),
        "wrapped/lib.js": "exports.ok = 1;\n",
      }),
    );
    const bare = await upload(
      `bare-tools.zip`,
      createZip({ "tools/index.js": "exports.t = 2;\n" }),
    );
    const result = await installDepPackages({ uris: [uri, bare], store, workDir: dir });
    expect(result.packages.map((p) => p.name)).toEqual(["wrapped-deps", "bare-tools"]);
    const load = resolverFor(result.nodePaths);
    expect(load("wrapped-deps/lib")).toEqual({ ok: 1 });
    expect(load("tools")).toEqual({ t: 2 });
    expect(load("bare-tools/tools")).toEqual({ t: 2 });
  });

  it("runs npm install only when dependencies are declared and node_modules is not vendored", async () => {
    const needs = await upload(
      `needs-${n++}.zip`,
      createZip({
        "package.json": JSON.stringify({
          name: "needs-install",
          dependencies: { leftpad: "1.0.0" },
        }),
      }),
    );
    const vendored = await upload(
      `vendored-${n++}.zip`,
      createZip({
        "package.json": JSON.stringify({ name: "vendored", dependencies: { tiny: "1.0.0" } }),
        "node_modules/tiny/index.js": "module.exports = 'tiny';\n",
        "index.js": "module.exports = require('tiny');\n",
      }),
    );
    const none = await upload(
      `none-${n++}.zip`,
      createZip({ "package.json": JSON.stringify({ name: "no-deps", dependencies: {} }) }),
    );
    const { calls, install } = recordingInstaller();
    const result = await installDepPackages({
      uris: [needs, vendored, none],
      store,
      workDir: dir,
      npmInstall: install,
    });
    expect(calls).toEqual([path.join(dir, "node_modules", "needs-install")]);
    expect(result.packages.map((p) => p.installedDependencies)).toEqual([true, false, false]);
    expect(result.nodePaths).toContain(path.join(dir, "node_modules", "vendored", "node_modules"));
    expect(resolverFor(result.nodePaths)("vendored")).toBe("tiny");
  });

  it("fails with the npm error when npm install fails", async () => {
    const uri = await upload(
      `broken-${n++}.zip`,
      createZip({
        "package.json": JSON.stringify({ name: "broken", dependencies: { nope: "9.9.9" } }),
      }),
    );
    const failing: NpmInstaller = async () => {
      throw new Error("npm ERR! 404 Not Found - GET https://registry.npmjs.org/nope");
    };
    await expect(
      installDepPackages({ uris: [uri], store, workDir: dir, npmInstall: failing }),
    ).rejects.toThrow(`dependency package ${uri}: npm install failed: npm ERR! 404 Not Found`);
  });

  it("refuses an entry escaping the target folder, naming it, and writes nothing outside", async () => {
    const uri = await upload(
      `slip-${n++}.zip`,
      Buffer.from(zipSync({ "../outside.js": strToU8("pwned") })),
    );
    const workDir = path.join(dir, "work");
    const error = await installDepPackages({ uris: [uri], store, workDir }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ArtifactError);
    expect((error as Error).message).toMatch(
      `dependency package ${uri} was refused: unsafe archive entry "../outside.js"`,
    );
    expect(existsSync(path.join(dir, "outside.js"))).toBe(false);
    expect(existsSync(path.join(workDir, "outside.js"))).toBe(false);
  });

  it.each([
    [
      "links each inside that chain outside",
      () =>
        tarGz([
          { path: "package.json", body: '{"name":"links"}' },
          { path: "lib/", type: "5" },
          { path: "lib/up", type: "2", linkpath: ".." },
          { path: "lib/out", type: "2", linkpath: "up/../../../../../../../../.." },
        ]),
      /unsafe archive entry "lib\/out": symbolic link .* points outside/,
    ],
    [
      "a hard link",
      () =>
        tarGz([
          { path: "package.json", body: '{"name":"hard"}' },
          { path: "passwd", type: "1", linkpath: "package.json" },
        ]),
      /unsafe archive entry "passwd": hard link/,
    ],
    [
      "a FIFO",
      () => tarGz([{ path: "pipe", type: "6" }]),
      /unsafe archive entry "pipe": entry type FIFO/,
    ],
    [
      "a gzip trailer declaring 4 GiB",
      () => {
        const archive = tarGz([{ path: "a.js", body: "x" }]);
        archive.writeUInt32LE(0xfffffff0, archive.length - 4);
        return archive;
      },
      /gzip trailer declares 4294967280 bytes/,
    ],
  ])(
    "refuses a tar.gz with %s, naming the entry, never the worker's folders",
    async (_what, make, message) => {
      const uri = await upload(`hostile-${n++}.tar.gz`, make());
      const workDir = path.join(dir, "work");
      const error = (await installDepPackages({ uris: [uri], store, workDir }).catch(
        (e: unknown) => e,
      )) as Error;
      expect(error).toBeInstanceOf(ArtifactError);
      expect(error.message).toContain(`dependency package ${uri} was refused: `);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(dir);
      // Nothing was installed.
      expect(existsSync(path.join(workDir, "node_modules", "links"))).toBe(false);
      expect(existsSync(path.join(workDir, "node_modules", "hard"))).toBe(false);
    },
  );

  it("refuses two packages with the same name and names that are not npm names", async () => {
    const a = await upload(`a-${n++}.zip`, createZip({ "package.json": '{"name":"same"}' }));
    const b = await upload(`b-${n++}.zip`, createZip({ "package.json": '{"name":"same"}' }));
    await expect(installDepPackages({ uris: [a, b], store, workDir: dir })).rejects.toThrow(
      `dependency package ${b}: another package in this run is also named "same"`,
    );
    const bad = await upload(`c-${n++}.zip`, createZip({ "package.json": '{"name":"../up"}' }));
    await expect(
      installDepPackages({ uris: [bad], store, workDir: path.join(dir, "w") }),
    ).rejects.toThrow('name "../up" is not a valid npm package name');
  });

  it("names a missing object and an unknown format", async () => {
    const missing = `s3://${env.buckets.artifacts}/dep-packages/missing.zip`;
    await expect(installDepPackages({ uris: [missing], store, workDir: dir })).rejects.toThrow(
      `dependency package ${missing} could not be downloaded: object not found: ${missing}`,
    );
    await expect(
      installDepPackages({ uris: ["s3://b/dep-packages/x.rar"], store, workDir: dir }),
    ).rejects.toThrow(
      "dependency package s3://b/dep-packages/x.rar: cannot tell the archive format",
    );
  });

  it("packageNameFromUri strips the archive extension", () => {
    expect(packageNameFromUri("s3://b/dep-packages/my-deps.tar.gz")).toBe("my-deps");
    expect(packageNameFromUri("s3://b/dep-packages/my-deps.zip")).toBe("my-deps");
  });
});
