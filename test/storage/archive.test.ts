import { randomBytes } from "node:crypto";
import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zipSync } from "fflate";
import { ArtifactError, ValidationError } from "../../lib/errors";
import {
  archiveFormatFromUri,
  createZip,
  extractArchive,
  inspectArchive,
  type ArchiveFormat,
  type ArchiveLimits,
} from "../../lib/storage/archive";
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
    // The entry stops at the 10 bytes it declared: nothing near 2 MiB is ever written.
    await expect(extractArchive(zip, "zip", target)).rejects.toThrow(
      /corrupt zip archive: entry "liar.bin" inflates to more than its recorded size of 10 bytes/,
    );
    expect((await stat(join(target, "liar.bin"))).size).toBe(0);
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
      { path: "pkg/lib", type: "2", linkpath: "../pkg/bin/../" },
    ]);
    const result = await extractArchive(archive, "tar.gz", target);
    expect(result).toEqual({ files: 2, bytes: 21 + 10 });
    expect(await readFile(join(target, "pkg/index.js"), "utf8")).toBe("module.exports = 42;\n");
    expect(await readlink(join(target, "pkg/alias.js"))).toBe("index.js");
    expect(await readFile(join(target, "pkg/alias.js"), "utf8")).toBe("module.exports = 42;\n");
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
      /"a\/up\/out": lies below the symbolic link "a\/up"/,
    );
    // Checked before anything was written.
    expect(await readdir(target)).toEqual([]);
    await expect(stat(join(outside(), "evil.txt"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses hard links, inside the target or not", async () => {
    for (const linkpath of ["../../../etc/passwd", "pkg/index.js"]) {
      const archive = tarGz([
        { path: "pkg/index.js", body: "x" },
        { path: "passwd", type: "1", linkpath },
      ]);
      const dir = join(target, String(linkpath.length));
      await expect(extractArchive(archive, "tar.gz", dir)).rejects.toThrow(
        /"passwd": hard link to .* is not allowed/,
      );
      expect(await readdir(dir)).toEqual([]);
    }
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

  it("refuses a file larger than the byte limit", async () => {
    const archive = tarGz([{ path: "big.bin", body: randomBytes(2 * 1024 * 1024) }]);
    await expect(
      extractArchive(archive, "tar.gz", target, { maxBytes: 1024 * 1024 }),
    ).rejects.toThrow(/expands beyond the limit of 1048576 bytes \(at entry "big.bin"\)/);
    const files = await readdir(target).catch(() => []);
    expect(files).not.toContain("big.bin");
  });

  it("refuses corrupt archives", async () => {
    await expect(extractArchive(Buffer.from("garbage"), "tar.gz", target)).rejects.toThrow(
      /corrupt tar.gz archive/,
    );
    const good = tarGz([{ path: "a.txt", body: "x".repeat(5000) }]);
    // Truncated, the last bytes are no longer gzip's trailer: refused as corrupt or as a bomb.
    const truncated = good.subarray(0, good.length - 12);
    await expect(extractArchive(truncated, "tar.gz", join(target, "t"))).rejects.toThrow(
      /corrupt tar.gz archive|gzip trailer/,
    );
  });
});

/** A zip whose central directory declares `size` for its first entry. */
function declaring(zip: Buffer, size: number): Buffer {
  const copy = Buffer.from(zip);
  const cd = copy.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  copy.writeUInt32LE(size, cd + 24);
  return copy;
}

/** A tar.gz whose gzip trailer declares `size` bytes uncompressed. */
function trailerDeclaring(archive: Buffer, size: number): Buffer {
  const copy = Buffer.from(archive);
  copy.writeUInt32LE(size, copy.length - 4);
  return copy;
}

const long = "n".repeat(256);

/**
 * Hostile archives: each is refused by inspection (which writes nothing) and again by
 * extraction, which leaves nothing in its target or beside it, and no message shows a path of
 * this machine.
 */
const HOSTILE: Array<[string, () => Buffer, ArchiveFormat, RegExp, ArchiveLimits?]> = [
  // sizes and ratios, checked before inflating
  [
    "zip declaring 600 MiB",
    () => declaring(createZip({ "a.bin": Buffer.alloc(1024) }), 600 * 1024 * 1024),
    "zip",
    /expands beyond the limit of 536870912 bytes \(at entry "a.bin"\)/,
  ],
  [
    "zip entry declaring a ratio over 1000:1",
    () => declaring(createZip({ "a.bin": Buffer.alloc(64) }), 50 * 1024 * 1024),
    "zip",
    /archive entry "a.bin" has a compression ratio over the limit of 1000:1/,
  ],
  [
    "zip declaring 0 bytes for 8 MiB",
    () => declaring(createZip({ "zero.bin": Buffer.alloc(8 * 1024 * 1024) }), 0),
    "zip",
    /"zero.bin" inflates to more than its recorded size of 0 bytes/,
  ],
  [
    "zip of zeros over a 100:1 ratio",
    () => createZip({ "z.bin": Buffer.alloc(1024 * 1024) }),
    "zip",
    /compression ratio over the limit of 100:1/,
    { maxRatio: 100 },
  ],
  [
    "tar.gz whose gzip trailer declares 4 GiB",
    () => trailerDeclaring(tarGz([{ path: "a", body: "x" }]), 0xfffffff0),
    "tar.gz",
    /gzip trailer declares 4294967280 bytes uncompressed, beyond the limit/,
  ],
  [
    "tar.gz whose trailer lies small but inflates over 100:1",
    () => trailerDeclaring(tarGz([{ path: "z.bin", body: Buffer.alloc(4 * 1024 * 1024) }]), 10),
    "tar.gz",
    /the archive has a compression ratio over the limit of 100:1/,
    { maxRatio: 100 },
  ],
  [
    "zip with 10,001 entries (default limit 10,000)",
    () => createZip(Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`f${i}`, ""]))),
    "zip",
    /more than the limit of 10000 entries/,
  ],
  [
    "tar.gz with 10,001 entries",
    () => tarGz(Array.from({ length: 10_001 }, (_, i) => ({ path: `d${i}/`, type: "5" as const }))),
    "tar.gz",
    /more than the limit of 10000 entries/,
  ],
  // links resolved against the tree
  [
    "link through a link to the parent (x/up -> .., x/out -> up/..)",
    () =>
      tarGz([
        { path: "x/", type: "5" },
        { path: "x/up", type: "2", linkpath: ".." },
        { path: "x/out", type: "2", linkpath: "up/.." },
      ]),
    "tar.gz",
    /"x\/out": symbolic link to "up\/\.\." points outside the target directory once the links/,
  ],
  [
    "chain of lexically-inside links climbing to /",
    () =>
      tarGz([
        { path: "d1/d2/d3/", type: "5" },
        { path: "d1/d2/d3/l1", type: "2", linkpath: "../.." },
        { path: "d1/l2", type: "2", linkpath: "d2/d3/l1/../../../../../../../../.." },
      ]),
    "tar.gz",
    /"d1\/l2": symbolic link .* points outside the target directory once the links/,
  ],
  [
    "an earlier link redirected outside by a later one (d/p -> q/../.., then d/q -> .)",
    () =>
      tarGz([
        { path: "d/", type: "5" },
        { path: "d/p", type: "2", linkpath: "q/../.." },
        { path: "d/q", type: "2", linkpath: "." },
      ]),
    "tar.gz",
    /"d\/p": symbolic link to "q\/\.\.\/\.\." points outside the target directory once the links/,
  ],
  [
    "a loop of links",
    () =>
      tarGz([
        { path: "a", type: "2", linkpath: "b" },
        { path: "b", type: "2", linkpath: "a" },
      ]),
    "tar.gz",
    /a loop of symbolic links/,
  ],
  [
    "links that double at each step (a1 -> a0/a0, ..., a30 -> a29/a29)",
    () =>
      tarGz([
        { path: "a0", type: "2", linkpath: "." },
        ...Array.from({ length: 30 }, (_, i) => ({
          path: `a${i + 1}`,
          type: "2" as const,
          linkpath: `a${i}/a${i}`,
        })),
      ]),
    "tar.gz",
    /symbolic link to "a\d+\/a\d+" never resolves \(a loop of symbolic links, or more than 40/,
  ],
  [
    "an entry below a symbolic link",
    () =>
      tarGz([
        { path: "sub/", type: "5" },
        { path: "lnk", type: "2", linkpath: "sub" },
        { path: "lnk/file.txt", body: "x" },
      ]),
    "tar.gz",
    /"lnk\/file.txt": lies below the symbolic link "lnk"/,
  ],
  [
    "a symbolic link with a NUL-free absolute target",
    () => tarGz([{ path: "etc", type: "2", linkpath: "/etc" }]),
    "tar.gz",
    /"etc": symbolic link to "\/etc" points outside/,
  ],
  // types
  [
    "a hard link inside the tree",
    () =>
      tarGz([
        { path: "a.txt", body: "x" },
        { path: "b.txt", type: "1", linkpath: "a.txt" },
      ]),
    "tar.gz",
    /"b.txt": hard link to "a.txt" is not allowed/,
  ],
  ["a FIFO", () => tarGz([{ path: "fifo", type: "6" }]), "tar.gz", /"fifo": entry type FIFO/],
  [
    "a block device",
    () => tarGz([{ path: "sda", type: "4" }]),
    "tar.gz",
    /"sda": entry type BlockDevice/,
  ],
  [
    "a zip FIFO entry",
    () => rawZip({ fifo: [text(""), { os: 3, attrs: (0o010644 << 16) >>> 0 }] }),
    "zip",
    /"fifo": only regular files and directories/,
  ],
  // names
  [
    "a zip name component of 256 bytes",
    () => rawZip({ [`dir/${long}`]: [text("x")] }),
    "zip",
    /has a path component of 256 bytes \(at most 255\)/,
  ],
  [
    "a tar name component of 256 bytes",
    () => tarGz([{ path: `dir/${long}`, body: "x" }]),
    "tar.gz",
    /has a path component of 256 bytes \(at most 255\)/,
  ],
  [
    "a name with an escape sequence",
    () => rawZip({ "a\u001b[2J.txt": [text("x")] }),
    "zip",
    /contains a control character \(U\+001B/,
  ],
  [
    "a tar entry twice (a file, then a link at its place)",
    () =>
      tarGz([
        { path: "x.js", body: "x" },
        { path: "x.js", type: "2", linkpath: "y.js" },
      ]),
    "tar.gz",
    /"x.js" appears more than once/,
  ],
];

describe("hostile archives: refused by inspection and by extraction", () => {
  // Rest parameters: jest would take a fifth named parameter missing from a row for `done`.
  it.each(HOSTILE)("%s", async (...row) => {
    const [, make, format, message, limits] = row;
    const archive = make();
    const inspected = inspectArchive(archive, format, limits);
    await expect(inspected).rejects.toThrow(ArtifactError);
    await expect(inspected).rejects.toThrow(message);
    const extracted = extractArchive(archive, format, target, limits);
    await expect(extracted).rejects.toThrow(message);
    const error = (await extracted.catch((e: unknown) => e)) as Error;
    expect(error.message).not.toContain(base);
    // Nothing escaped; for everything refused before the first write, nothing was written.
    expect(await readdir(outside())).toEqual(["target"]);
    if (!/inflates to more than/.test(error.message)) expect(await readdir(target)).toEqual([]);
  });
});

describe("inspectArchive", () => {
  it("accepts what extraction accepts and reports entries, files and bytes", async () => {
    const zip = createZip({ "package.json": '{"name":"my-deps"}', "lib/a.js": "exports.a=1;" });
    expect(await inspectArchive(zip, "zip")).toEqual({ entries: 2, files: 2, bytes: 18 + 12 });
    const tgz = tarGz([
      { path: "pkg/", type: "5" },
      { path: "pkg/index.js", body: "module.exports = 1;" },
      { path: "pkg/main.js", type: "2", linkpath: "index.js" },
      { path: "pkg/up", type: "2", linkpath: "../pkg/." },
    ]);
    expect(await inspectArchive(tgz, "tar.gz")).toEqual({ entries: 4, files: 1, bytes: 19 });
  });

  it("refuses corrupt archives without a target to write to", async () => {
    await expect(inspectArchive(Buffer.from("nope"), "zip")).rejects.toThrow(/corrupt zip/);
    await expect(inspectArchive(Buffer.from("nope"), "tar.gz")).rejects.toThrow(/corrupt tar.gz/);
  });

  it("a zip entry that inflates beyond its declared size is caught without writing", async () => {
    const zip = declaring(createZip({ "liar.bin": Buffer.alloc(64 * 1024) }), 100);
    await expect(inspectArchive(zip, "zip")).rejects.toThrow(
      /"liar.bin" inflates to more than its recorded size of 100 bytes/,
    );
  });
});

describe("extraction error messages name entries, never this machine's paths", () => {
  it("a file/directory conflict names the entry", async () => {
    const zip = rawZip({ a: [text("file")], "a/b.txt": [text("x")] });
    const error = (await extractArchive(zip, "zip", target).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/"a\/b.txt" conflicts/);
    expect(error.message).not.toContain(base);
  });
});
