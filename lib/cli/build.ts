import * as path from "node:path";
import { sha256Hex } from "../hash";
import { buildFlow } from "../bundler/build";
import { UsageError } from "./io";
import { onePositional, parseCommandArgs } from "./args";
import { EXIT, formatBytes, type CliCommand } from "./io";

const usage = `Usage: dagy build <flow.ts> [options]

Type-checks a flow with the project's tsconfig.json (the nearest one above the flow), then
bundles it and its npm imports into an artifact zip holding flow_spec.json, metadata.json,
flow.js (with a source map that embeds the flow's sources) and the flow's source files under
src/. Type errors are refused with the compiler's messages. The same source and version always
give the same flow_spec.json and flow.js.

Options:
  -o, --output <file>    Where to write the artifact (default: artifact.zip).
      --version <v>      Version to record in the artifact, overriding the one the flow declares
                         (e.g. 1.0.0; letters, digits, . _ + -).
      --no-typecheck     Bundle without type-checking first.
  -h, --help             Show this help.

Environment:
  SOURCE_DATE_EPOCH      Seconds since 1970 to record as built_at, for byte-identical zips.

Example:
  dagy build examples/flows/etl_pipeline.ts --output artifact.zip --version 1.0.0
`;

function builtAtFromEnv(value: string | undefined): Date | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(
      `SOURCE_DATE_EPOCH must be whole seconds since 1970, got "${value}"`,
      "build",
    );
  }
  return new Date(Number(value) * 1000);
}

export const command: CliCommand = {
  name: "build",
  usage,
  async run(args, io) {
    const parsed = parseCommandArgs({ name: "build", usage }, args, io, {
      output: { type: "string", short: "o" },
      version: { type: "string" },
      "no-typecheck": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { values, positionals } = parsed;
    const entry = onePositional("build", positionals, "flow file (dagy build <flow.ts>)");
    const output = values.output ?? "artifact.zip";
    const builtAt = builtAtFromEnv(io.env.SOURCE_DATE_EPOCH);
    const result = await buildFlow({
      entry,
      outFile: output,
      cwd: io.cwd,
      typecheck: values["no-typecheck"] !== true,
      ...(values.version === undefined ? {} : { version: values.version }),
      ...(builtAt === undefined ? {} : { builtAt }),
    });
    const written = result.path ?? path.resolve(io.cwd, output);
    const relative = path.relative(io.cwd, written);
    const shown = relative.startsWith("..") || path.isAbsolute(relative) ? written : relative;
    io.stdout(
      [
        `Built ${result.spec.name} ${result.spec.version} -> ${shown}`,
        `  tasks    ${result.spec.tasks.length}`,
        `  types    ${
          result.typecheck === undefined
            ? "not checked (--no-typecheck)"
            : `checked, ${result.typecheck.checkedFiles} file${result.typecheck.checkedFiles === 1 ? "" : "s"} (${
                result.typecheck.configFile === undefined
                  ? "no tsconfig.json found, defaults"
                  : path.relative(io.cwd, result.typecheck.configFile) || "tsconfig.json"
              })`
        }`,
        `  sources  ${result.sources.join(", ")}`,
        `  size     ${formatBytes(result.artifact.length)}`,
        `  sha256   ${sha256Hex(result.artifact)}`,
        `  bundle   ${result.metadata.entry} ${formatBytes(Buffer.byteLength(result.bundle))}, ` +
          `sha256 ${result.metadata.bundle_sha256}`,
        "",
      ].join("\n"),
    );
    return EXIT.ok;
  },
};
