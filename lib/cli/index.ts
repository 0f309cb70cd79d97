import { DagyError } from "../errors";
import { SDK_VERSION } from "../sdk/version";
import { ApiError, gatewayHint } from "./api-client";
import { COMMANDS, findCommand } from "./commands";
import { EXIT, EXIT_FOR_CODE, UsageError, type CliIO } from "./io";

export { COMMANDS, type CommandEntry } from "./commands";
export { EXIT, UsageError, type CliCommand, type CliIO } from "./io";

function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n");
  return `Usage: dagy <command> [options]

Commands:
${rows}

Options:
  -h, --help     Show this help (dagy <command> --help for a command's options).
  -v, --version  Print the dagy version.
`;
}

function causeStack(error: DagyError): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.stack ? cause.stack : undefined;
}

/** Prints an error as "dagy: error: ..." and returns the exit code it maps to. */
export function reportError(error: unknown, io: CliIO): number {
  if (error instanceof UsageError) {
    io.stderr(`dagy: error: ${error.message}\n`);
    const help = error.command ? `dagy ${error.command} --help` : "dagy --help";
    io.stderr(`Run '${help}' for usage.\n`);
    return EXIT.usage;
  }
  if (error instanceof ApiError) {
    io.stderr(`dagy: error: ${error.message}\n`);
    const hint = gatewayHint(error);
    if (hint !== undefined) io.stderr(`${hint}\n`);
    return EXIT_FOR_CODE[error.code];
  }
  if (error instanceof DagyError) {
    io.stderr(`dagy: error: ${error.message}\n`);
    // A flow that threw while loading: its stack shows the author where.
    const stack = causeStack(error);
    if (stack) io.stderr(`${stack}\n`);
    return EXIT_FOR_CODE[error.code];
  }
  // Not an error we raise on purpose: show everything, it is a bug to report.
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr(`dagy: error: ${text}\n`);
  return EXIT.failure;
}

/** Runs `dagy <args>` and resolves with the exit code; never rejects. */
export async function main(args: readonly string[], io: CliIO): Promise<number> {
  const [first, ...rest] = args;
  try {
    if (first === undefined) {
      io.stderr(mainUsage());
      return EXIT.usage;
    }
    if (first === "-h" || first === "--help" || first === "help") {
      const topic = first === "help" ? rest[0] : undefined;
      if (topic !== undefined) return await main([topic, "--help"], io);
      io.stdout(mainUsage());
      return EXIT.ok;
    }
    if (first === "-v" || first === "--version") {
      io.stdout(`dagy ${SDK_VERSION}\n`);
      return EXIT.ok;
    }
    const entry = findCommand(first);
    if (entry === undefined) {
      throw new UsageError(
        first.startsWith("-") ? `unknown option ${first}` : `unknown command "${first}"`,
      );
    }
    const command = await entry.load();
    return await command.run(rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}
