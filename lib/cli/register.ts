/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`, as in commands.ts: bin/dagy.js runs the CLI through tsx's
 * CommonJS hook, which native dynamic import() bypasses. */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { ValidationError } from "../errors";
import { onePositional, parseCommandArgs } from "./args";
import { isArtifactPath } from "./flow-target";
import { EXIT, UsageError, formatBytes, type CliCommand } from "./io";
import { COMMON_OPTIONS, COMMON_USAGE, orgOf, targetOf } from "./lifecycle";
import { openStores } from "./stores";

const usage = `Usage: dagy register <flow.ts|artifact.zip> [options]

Registers a flow version for an org: builds the flow when given a source file (as \`dagy
build\` does), uploads the artifact to flows/<flow>/<version>/artifact.zip in the artifact
bucket, and records it in the flows table. Registering the same flow again is a no-op; a
version already registered with other code is refused (versions are immutable: bump it).

Options:
      --version <version>    Register under this version instead of the flow's own
                             (source files only; an artifact's version was fixed by dagy build).
      --description <text>   Stored with the version.
${COMMON_USAGE}
Register writes to the tables and buckets directly: the local platform's (running or not) or
a stack's (--outputs / DAGY_* variables, with your AWS credentials).
`;

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
        ...(values.version !== undefined ? { version: values.version } : {}),
      });
      artifact = built.artifact;
      spec = built.spec;
    }

    const stores = await openStores(target);
    try {
      io.stdout(
        `Registering ${spec.name} ${spec.version} for ${orgId} (${formatBytes(artifact.length)}) in ${stores.description}…\n`,
      );
      const { registerArtifact } =
        require("../local/registration") as typeof import("../local/registration");
      const outcome = await registerArtifact(stores, orgId, spec, artifact, {
        ...(values.description !== undefined ? { description: values.description } : {}),
      });
      switch (outcome.status) {
        case "registered":
          io.stdout(
            `Registered ${spec.name} ${spec.version}: ${outcome.record.artifact_s3_uri} (sha256 ${outcome.record.artifact_sha256.slice(0, 12)}…)\n`,
          );
          io.stdout(`  Launch it: dagy launch ${spec.name} --flow-version ${spec.version}\n`);
          return EXIT.ok;
        case "unchanged":
          io.stdout(
            `${spec.name} ${spec.version} is already registered with this code (since ${outcome.record.registered_at}); nothing to do.\n`,
          );
          return EXIT.ok;
        case "conflict":
          io.stderr(`dagy: error: ${outcome.message}\n`);
          return EXIT.failure;
      }
    } finally {
      await stores.close();
    }
  },
};
