/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { ValidationError } from "../errors";
import type { PackageFormat } from "../storage/keys";
import { parseCommandArgs } from "./args";
import { EXIT, UsageError, formatBytes, formatTable, type CliCommand } from "./io";
import { putUpload } from "./api-client";
import {
  apiClientFor,
  COMMON_OPTIONS,
  COMMON_USAGE,
  orgOf,
  shortTime,
  targetOf,
} from "./lifecycle";

const usage = `Usage: dagy deps push <dir|archive.zip|archive.tar.gz> --slug <slug> --version <v> [options]
       dagy deps list [options]

Dependency packages: shared or proprietary code (and native modules) a flow's bundle does not
carry. push zips a directory (or takes a .zip / .tar.gz as is), uploads it through the API
(straight to storage, which checks its SHA-256) and has the API verify and record it for the
org. Reference it from a deployment (dagy deployments set) and launch with --deployment.

Options:
      --slug <slug>          Package id: lowercase letters, digits, '.', '_', '-' (push).
      --version <version>    The package's version (push).
      --share-with <org>     Another org that may use the package; repeatable; * for all.
      --json                 Print JSON.
${COMMON_USAGE}`;

/** Skipped when zipping a directory: never part of a package. */
const SKIPPED = new Set([".git", ".DS_Store"]);
const MAX_PACKAGE_BYTES = 512 * 1024 * 1024;

async function collectFiles(root: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (SKIPPED.has(entry.name)) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const data = await readFile(full);
        total += data.length;
        if (total > MAX_PACKAGE_BYTES) {
          throw new ValidationError(
            `${root} holds more than ${formatBytes(MAX_PACKAGE_BYTES)}; packages are limited to that`,
            "archive",
          );
        }
        files[relative(root, full).split(sep).join("/")] = data;
      }
      // Symlinks and special files are left out: an archive must not point outside itself.
    }
  };
  await walk(root);
  return files;
}

async function packageInput(
  path: string,
): Promise<{ archive: Buffer; format: PackageFormat; files?: number }> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new ValidationError(`${path}: no such file or directory`, "archive");
  }
  if (info.isDirectory()) {
    const files = await collectFiles(path);
    const count = Object.keys(files).length;
    if (count === 0) throw new ValidationError(`${path} is empty`, "archive");
    const { createZip } = require("../storage/archive") as typeof import("../storage/archive");
    return { archive: createZip(files), format: "zip", files: count };
  }
  const lower = path.toLowerCase();
  if (lower.endsWith(".zip")) return { archive: await readFile(path), format: "zip" };
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) {
    return { archive: await readFile(path), format: "tar.gz" };
  }
  throw new ValidationError(`${path}: expected a directory, a .zip or a .tar.gz`, "archive");
}

export const command: CliCommand = {
  name: "deps",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "deps", usage }, args, io, {
      ...COMMON_OPTIONS,
      slug: { type: "string" },
      version: { type: "string" },
      "share-with": { type: "string", multiple: true },
      json: { type: "boolean" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const [action, input, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra.join(" ")}`, "deps");
    const orgId = orgOf(values, io);
    if (action === "push") {
      if (input === undefined)
        throw new UsageError("missing directory or archive (dagy deps push <dir|archive>)", "deps");
      if (values.slug === undefined) throw new UsageError("--slug is required", "deps");
      if (values.version === undefined) throw new UsageError("--version is required", "deps");
      const { archive, format, files } = await packageInput(resolve(io.cwd, input));
      const client = await apiClientFor(targetOf(values, io));
      io.stdout(
        `Pushing ${values.slug} ${values.version} (${files !== undefined ? `${files} files, ` : ""}${formatBytes(archive.length)} ${format}) for ${orgId}…\n`,
      );
      const ticket = await client.createDepPackageUpload(
        { org_id: orgId, name: values.slug, version: values.version, format },
        { sha256: createHash("sha256").update(archive).digest("hex"), size: archive.length },
      );
      await putUpload(ticket, archive);
      const record = await client.commitDepPackage({
        org_id: orgId,
        name: values.slug,
        version: values.version,
        format,
        upload_id: ticket.upload_id,
        ...(values["share-with"] !== undefined ? { shared_with: values["share-with"] } : {}),
      });
      if (values.json) io.stdout(`${JSON.stringify(record, null, 2)}\n`);
      else io.stdout(`Pushed ${record.name} ${record.version}: ${record.package_s3_uri}\n`);
      return EXIT.ok;
    }
    if (action === "list") {
      if (input !== undefined) throw new UsageError(`unexpected argument: ${input}`, "deps");
      const client = await apiClientFor(targetOf(values, io));
      const packages = await client.listDepPackages(orgId);
      if (values.json) io.stdout(`${JSON.stringify({ packages }, null, 2)}\n`);
      else if (packages.length === 0) io.stdout(`No dependency packages for ${orgId}.\n`);
      else {
        io.stdout(
          `${formatTable([
            ["SLUG", "VERSION", "URI", "SHARED WITH", "CREATED"],
            ...packages.map((p) => [
              p.name,
              p.version,
              p.package_s3_uri,
              p.shared_with.join(",") || "-",
              shortTime(p.created_at),
            ]),
          ])}\n`,
        );
      }
      return EXIT.ok;
    }
    throw new UsageError(
      action === undefined
        ? "missing action: push or list"
        : `unknown action "${action}": use push or list`,
      "deps",
    );
  },
};
