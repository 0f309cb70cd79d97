/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { ValidationError } from "../errors";
import { onePositional, parseCommandArgs } from "./args";
import { isArtifactPath } from "./flow-target";
import { EXIT, UsageError, formatBytes, type CliCommand } from "./io";
import { putUpload } from "./api-client";
import { apiClientFor, COMMON_OPTIONS, COMMON_USAGE, orgOf, targetOf } from "./lifecycle";
import { describeTarget } from "./target";

const usage = `Usage: dagy register <flow.ts|artifact.zip> [options]

Registers a flow version for an org: builds the flow when given a source file (as \`dagy
build\` does), uploads the artifact through the API (straight to storage, whose checksum check
guarantees the bytes), and has the API verify and record it. Registering the same artifact
again is a no-op; a version already registered with other code is refused (versions are
immutable: bump it).

Options:
      --version <version>    Register under this version instead of the flow's own
                             (source files only; an artifact's version was fixed by dagy build).
      --description <text>   Stored with the version.
${COMMON_USAGE}`;

/** `metadata.built_at` of artifacts `register` builds itself: the zip entries' own fixed time. */
const REPRODUCIBLE_BUILD_TIME = new Date(Date.UTC(1980, 0, 1));

export const command: CliCommand = {
  name: "register",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "register", usage }, args, io, {
      ...COMMON_OPTIONS,
      version: { type: "string" },
      description: { type: "string" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const file = onePositional(
      "register",
      positionals,
      "flow file or artifact (dagy register <flow.ts|artifact.zip>)",
    );
    const orgId = orgOf(values, io);
    const target = targetOf(values, io);
    // Lazy: esbuild and the artifact reader load only when registering.
    const build = {
      ...(require("../artifact/artifact") as typeof import("../artifact/artifact")),
      ...(require("../bundler/build") as typeof import("../bundler/build")),
    };

    let artifact: Buffer;
    let spec;
    if (isArtifactPath(file)) {
      if (values.version !== undefined) {
        throw new UsageError(
          "--version applies to source files; an artifact's version is fixed: rebuild it with `dagy build <flow.ts> --version <v>`",
          "register",
        );
      }
      try {
        artifact = await readFile(resolve(io.cwd, file));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          throw new ValidationError(`artifact not found: ${file}`, "artifact");
        }
        throw error;
      }
      spec = build.readArtifact(artifact).spec;
    } else {
      io.stdout(`Building ${file}…\n`);
      const built = await build.buildFlow({
        entry: file,
        cwd: io.cwd,
        // Reproducible: the same source gives the same bytes, so registering it again is
        // recognised as a no-op (a version is its artifact's SHA-256). registered_at keeps time.
        builtAt: REPRODUCIBLE_BUILD_TIME,
        ...(values.version !== undefined ? { version: values.version } : {}),
      });
      artifact = built.artifact;
      spec = built.spec;
    }

    const client = await apiClientFor(target);
    const sha256 = createHash("sha256").update(artifact).digest("hex");
    const existing = (await client.listFlowVersions(spec.name, orgId)).find(
      (v) => v.flow_version === spec.version,
    );
    if (existing !== undefined && existing.artifact_sha256 === sha256) {
      io.stdout(
        `${spec.name} ${spec.version} is already registered with this code (since ${existing.registered_at}); nothing to do.\n`,
      );
      return EXIT.ok;
    }
    io.stdout(
      `Registering ${spec.name} ${spec.version} for ${orgId} (${formatBytes(artifact.length)}) with ${describeTarget(target)}…\n`,
    );
    const ticket = await client.createFlowUpload(spec.name, orgId, spec.version, {
      sha256,
      size: artifact.length,
    });
    await putUpload(ticket, artifact);
    const record = await client.commitFlowVersion(spec.name, {
      org_id: orgId,
      version: spec.version,
      upload_id: ticket.upload_id,
      ...(values.description !== undefined ? { description: values.description } : {}),
    });
    if (existing !== undefined && record.registered_at === existing.registered_at) {
      // Rebuilt, so other zip bytes, but the API found the same flow code and spec.
      io.stdout(
        `${spec.name} ${spec.version} is already registered with this code (since ${existing.registered_at}); nothing to do.\n`,
      );
      return EXIT.ok;
    }
    const where = record.artifact_s3_uri !== undefined ? `: ${record.artifact_s3_uri}` : "";
    io.stdout(`Registered ${spec.name} ${spec.version}${where} (sha256 ${sha256.slice(0, 12)}…)\n`);
    io.stdout(`  Launch it: dagy launch ${spec.name} --flow-version ${spec.version}\n`);
    return EXIT.ok;
  },
};
