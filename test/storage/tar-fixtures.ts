/**
 * Builds tar.gz archives byte by byte, so tests can include entries a well-behaved tool would
 * never write (escaping links, `..` paths, devices).
 */
import { gzipSync } from "node:zlib";

export interface TarEntrySpec {
  path: string;
  /**
   * "0" file, "1" hard link, "2" symlink, "3" char device, "4" block device, "5" directory,
   * "6" FIFO, "L" GNU long name. Paths over 100 bytes get an "L" header first.
   */
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6" | "L";
  body?: string | Buffer;
  linkpath?: string;
  mode?: number;
}

function field(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, Math.min(length, Buffer.byteLength(value)), "utf8");
}
function octal(buf: Buffer, offset: number, length: number, value: number): void {
  field(buf, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

function header(entry: TarEntrySpec, size: number): Buffer {
  const h = Buffer.alloc(512);
  field(h, 0, 100, entry.path);
  octal(h, 100, 8, entry.mode ?? (entry.type === "5" ? 0o755 : 0o644));
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0);
  h.fill(" ", 148, 156);
  field(h, 156, 1, entry.type ?? "0");
  if (entry.linkpath) field(h, 157, 100, entry.linkpath);
  field(h, 257, 6, "ustar\0");
  field(h, 263, 2, "00");
  let sum = 0;
  for (const byte of h) sum += byte;
  field(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

export function tarGz(entries: TarEntrySpec[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body =
      entry.body === undefined
        ? Buffer.alloc(0)
        : typeof entry.body === "string"
          ? Buffer.from(entry.body)
          : entry.body;
    const type = entry.type ?? "0";
    const size = type === "0" ? body.length : 0;
    if (Buffer.byteLength(entry.path) > 100) {
      const name = Buffer.from(`${entry.path}\0`);
      blocks.push(header({ path: "././@LongLink", type: "L" }, name.length));
      blocks.push(name, Buffer.alloc((512 - (name.length % 512)) % 512));
    }
    blocks.push(header(entry, size));
    if (size > 0) {
      blocks.push(body, Buffer.alloc((512 - (size % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
