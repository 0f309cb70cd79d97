import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zipSync } from "fflate";
import { ArtifactError, ValidationError } from "../../lib/errors";
import { archiveFormatFromUri, createZip, extractArchive } from "../../lib/storage/archive";
import { tarGz } from "./tar-fixtures";

let base: string;
let target: string;
let n = 0;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "dagy-archive-test-"));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});
beforeEach(() => {
  // A fresh target below an "outside" directory, so escapes would land somewhere we can see.
  target = join(base, `case-${++n}`, "target");
});

const outside = () => join(target, "..");

function rawZip(entries: Record<string, [Uint8Array, { os?: number; attrs?: number }?]>): Buffer {
  const input: Record<string, [Uint8Array, { os?: number; attrs?: number }]> = {};
  for (const [name, [data, opts]] of Object.entries(entries)) input[name] = [data, opts ?? {}];
  return Buffer.from(zipSync(input));
}
const text = (s: string) => new Uint8Array(Buffer.from(s));

describe("archiveFormatFromUri", () => {
  it("recognizes .zip, .tar.gz and .tgz", () => {
    expect(archiveFormatFromUri("s3://b/dep-packages/x.zip")).toBe("zip");
    expect(archiveFormatFromUri("s3://b/dep-packages/x.tar.gz")).toBe("tar.gz");
    expect(archiveFormatFromUri("pkg.TGZ")).toBe("tar.gz");
  });
  it("rejects other extensions with a ValidationError", () => {
    expect(() => archiveFormatFromUri("s3://b/x.rar")).toThrow(ValidationError);
    expect(() => archiveFormatFromUri("s3://b/x.rar")).toThrow(/\.zip, \.tar\.gz or \.tgz/);
  });
});

describe("zip extraction", () => {
  it("extracts files and directories and reports files and bytes", async () => {
    const zip = createZip({
      "flow_spec.json": '{"name":"etl"}',
      "lib/helpers.js": "exports.x = 1;\n",
      "lib/nested/deep.txt": "deep",
    });
    const result = await extractArchive(zip, "zip", target);
    expect(result).toEqual({ files: 3, bytes: 14 + 15 + 4 });
    expect(await readFile(join(target, "lib/nested/deep.txt"), "utf8")).toBe("deep");
    expect(await readFile(join(target, "flow_spec.json"), "utf8")).toBe('{"name":"etl"}');
  });

  it("createZip is deterministic", () => {
    const a = createZip({ b: "2", a: "1" });
    const b = createZip({ a: "1", b: "2" });
    expect(a.equals(b)).toBe(true);
  });

  it("refuses a ../ entry (zip-slip) and writes nothing outside", async () => {
    const zip = rawZip({ "ok.txt": [text("fine")], "../evil.txt": [text("pwned")] });
    await expect(extractArchive(zip, "zip", target)).rejects.toThrow(
      /unsafe archive entry "\.\.\/evil\.txt".*'\.\.'/,
    );
    await expect(stat(join(outside(), "evil.txt"))).rejects.toThrow(/ENOENT/);
    // Validation happens before any write: not even the harmless entry was extracted.
    await expect(stat(join(target, "ok.txt"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses absolute paths, drive letters and backslashes", async () => {
    for (const name of ["/etc/evil", "C:/evil.txt", "a\\..\\..\\evil.txt"]) {
      const zip = rawZip({ [name]: [text("x")] });
      await expect(extractArchive(zip, "zip", target)).rejects.toThrow(ArtifactError);
      await expect(extractArchive(zip, "zip", target)).rejects.toThrow(JSON.stringify(name));
    }
  });

  it("refuses symlink entries", async () => {
    const zip = rawZip({ link: [text("/etc/passwd"), { os: 3, attrs: (0o120777 << 16) >>> 0 }] });
    await expect(extractArchive(zip, "zip", target)).rejects.toThrow(
      /"link": symbolic links are not allowed/,
    );
  });

  it("refuses more entries than the limit", async () => {
    const entries: Record<string, string> = {};
    for (let i = 0; i < 11; i++) entries[`f${i}.txt`] = "x";
    await expect(
      extractArchive(createZip(entries), "zip", target, { maxEntries: 10 }),
    ).rejects.toThrow(/more than the limit of 10 entries/);
  });

  it("refuses a highly compressible file larger than the byte limit (zip bomb)", async () => {
    const zip = createZip({ "bomb.bin": Buffer.alloc(4 * 1024 * 1024) });
    expect(zip.length).toBeLessThan(20_000);
    await expect(extractArchive(zip, "zip", target, { maxBytes: 1024 * 1024 })).rejects.toThrow(
      /expands beyond the limit of 1048576 bytes \(at entry "bomb.bin"\)/,
    );
  });

  it("counts real output, not the sizes the headers claim", async () => {
    const zip = createZip({ "liar.bin": Buffer.alloc(2 * 1024 * 1024) });
    // Rewrite the uncompressed size in the central directory to 10 bytes.
    const cd = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    zip.writeUInt32LE(10, cd + 24);
    await expect(extractArchive(zip, "zip", target, { maxBytes: 64 * 1024 })).rejects.toThrow(
      /expands beyond the limit/,
    );
    // Under a generous limit the lie is caught as corruption.
    await expect(extractArchive(zip, "zip", join(target, "2"))).rejects.toThrow(
      /corrupt zip archive: entry "liar.bin" does not match its recorded size or checksum/,
    );
  });

  it("refuses a file and a directory at the same path", async () => {
    const zip = rawZip({ a: [text("file")], "a/b.txt": [text("inside a file?")] });
    await expect(extractArchive(zip, "zip", target)).rejects.toThrow(
      /archive entry "a\/b.txt" conflicts with another entry/,
    );
  });

  it("refuses corrupt archives", async () => {
    await expect(extractArchive(Buffer.from("not a zip at all"), "zip", target)).rejects.toThrow(
      /corrupt zip archive/,
    );
    const zip = createZip({ "a.txt": "hello world, hello world, hello world" });
    const damaged = Buffer.from(zip);
    const local = damaged.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    damaged.fill(0xff, local + 30 + 5, local + 30 + 15);
    await expect(extractArchive(damaged, "zip", join(target, "d"))).rejects.toThrow(
      /corrupt zip archive/,
    );
  });
});

describe("tar.gz extraction", () => {
  it("extracts files, directories and in-tree links", async () => {
    const archive = tarGz([
      { path: "pkg/", type: "5" },
      { path: "pkg/index.js", body: "module.exports = 42;\n" },
      { path: "pkg/bin/tool", body: "#!/bin/sh\n", mode: 0o4755 },
      { path: "pkg/alias.js", type: "2", linkpath: "index.js" },
      { path: "pkg/hard.js", type: "1", linkpath: "pkg/index.js" },
    ]);
    const result = await extractArchive(archive, "tar.gz", target);
    expect(result).toEqual({ files: 2, bytes: 21 + 10 });
    expect(await readFile(join(target, "pkg/index.js"), "utf8")).toBe("module.exports = 42;\n");
    expect(await readlink(join(target, "pkg/alias.js"))).toBe("index.js");
    expect(await readFile(join(target, "pkg/hard.js"), "utf8")).toBe("module.exports = 42;\n");
    // setuid is stripped from archive modes.
    expect((await stat(join(target, "pkg/bin/tool"))).mode & 0o7000).toBe(0);
  });

  it("refuses a ../ entry", async () => {
    const archive = tarGz([{ path: "../evil.txt", body: "pwned" }]);
    await expect(extractArchive(archive, "tar.gz", target)).rejects.toThrow(
      /unsafe archive entry "\.\.\/evil\.txt"/,
    );
    await expect(stat(join(outside(), "evil.txt"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses an absolute path", async () => {
    const archive = tarGz([{ path: "/tmp/evil.txt", body: "pwned" }]);
    await expect(extractArchive(archive, "tar.gz", target)).rejects.toThrow(
      /"\/tmp\/evil.txt": is an absolute path/,
    );
  });

  it("refuses a symlink pointing outside the target", async () => {
    for (const linkpath of ["../../outside", "/etc"]) {
      const archive = tarGz([
        { path: "escape", type: "2", linkpath },
        { path: "escape/evil.txt", body: "pwned" },
      ]);
      const dir = join(target, linkpath.startsWith("/") ? "abs" : "rel");
      await expect(extractArchive(archive, "tar.gz", dir)).rejects.toThrow(
        /"escape": symbolic link to .* points outside the target directory/,
      );
      await expect(lstat(join(dir, "escape"))).rejects.toThrow(/ENOENT/);
    }
  });

  it("refuses chained links that only escape once an earlier link is followed", async () => {
    // a/up -> .. is inside (it is the root); a/up/out -> .. looks inside lexically but would
    // point above the root. Writing through the a/up symlink is refused.
    const archive = tarGz([
      { path: "a/", type: "5" },
      { path: "a/up", type: "2", linkpath: ".." },
      { path: "a/up/out", type: "2", linkpath: ".." },
      { path: "a/up/out/evil.txt", body: "pwned" },
    ]);
    await expect(extractArchive(archive, "tar.gz", target)).rejects.toThrow(
      /unsafe or invalid tar.gz archive: .*symbolic link/,
    );
    await expect(lstat(join(target, "out"))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(outside(), "evil.txt"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a hard link pointing outside the target", async () => {
    const archive = tarGz([{ path: "passwd", type: "1", linkpath: "../../../etc/passwd" }]);
    await expect(extractArchive(archive, "tar.gz", target)).rejects.toThrow(
      /"passwd": hard link to .* points outside the target directory/,
    );
    await expect(lstat(join(target, "passwd"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses device and FIFO entries", async () => {
    await expect(
      extractArchive(tarGz([{ path: "fifo", type: "6" }]), "tar.gz", target),
    ).rejects.toThrow(/"fifo": entry type FIFO is not allowed/);
    await expect(
      extractArchive(tarGz([{ path: "tty", type: "3" }]), "tar.gz", join(target, "2")),
    ).rejects.toThrow(/"tty": entry type CharacterDevice is not allowed/);
  });

  it("refuses more entries than the limit", async () => {
    const entries = Array.from({ length: 6 }, (_, i) => ({ path: `f${i}`, body: "x" }));
    await expect(
      extractArchive(tarGz(entries), "tar.gz", target, { maxEntries: 5 }),
    ).rejects.toThrow(/more than the limit of 5 entries/);
  });

  it("refuses a highly compressible file larger than the byte limit", async () => {
    const archive = tarGz([{ path: "bomb.bin", body: Buffer.alloc(4 * 1024 * 1024) }]);
    expect(archive.length).toBeLessThan(20_000);
    await expect(
      extractArchive(archive, "tar.gz", target, { maxBytes: 1024 * 1024 }),
    ).rejects.toThrow(/expands beyond the limit of 1048576 bytes/);
    const files = await readdir(target).catch(() => []);
    expect(files).not.toContain("bomb.bin");
  });

  it("refuses corrupt archives", async () => {
    await expect(extractArchive(Buffer.from("garbage"), "tar.gz", target)).rejects.toThrow(
      /corrupt tar.gz archive/,
    );
    const good = tarGz([{ path: "a.txt", body: "x".repeat(5000) }]);
    const truncated = good.subarray(0, good.length - 12);
    await expect(extractArchive(truncated, "tar.gz", join(target, "t"))).rejects.toThrow(
      /corrupt tar.gz archive/,
    );
  });
});
