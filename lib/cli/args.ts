import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError, type CliIO } from "./io";

/**
 * Runs a `util.parseArgs` call and turns its errors (unknown option, missing value, ...) into a
 * `UsageError` for `command`. Each command calls `parseArgs` itself so the result stays typed.
 */
export function parseOrUsage<T>(command: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    // By code, not `instanceof TypeError`: Node's errors may come from another realm (jest).
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) {
      throw new UsageError((error as Error).message, command);
    }
    throw error;
  }
}

/** The one positional argument a command takes, or a usage error naming what is missing. */
export function onePositional(command: string, positionals: string[], what: string): string {
  const [first, ...rest] = positionals;
  if (first === undefined) throw new UsageError(`missing ${what}`, command);
  if (rest.length > 0) {
    const s = rest.length > 1 ? "s" : "";
    throw new UsageError(`unexpected argument${s}: ${rest.join(" ")}`, command);
  }
  return first;
}

/** A positive integer option value, or a usage error naming the option. */
export function positiveInteger(command: string, option: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${option} must be a whole number >= 1, got "${value}"`, command);
  }
  return n;
}

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
type CommandArgs<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/**
 * Every command's first step: parse its arguments strictly (errors become a `UsageError`) and
 * answer `--help` with its usage. Returns undefined when the help was printed.
 */
export function parseCommandArgs<O extends OptionsConfig>(
  command: { readonly name: string; readonly usage: string },
  args: readonly string[],
  io: Pick<CliIO, "stdout">,
  options: O,
): CommandArgs<O> | undefined {
  const parsed = parseOrUsage(command.name, () =>
    parseArgs({ args: [...args], options, allowPositionals: true, strict: true }),
  );
  if ((parsed.values as { help?: unknown }).help === true) {
    io.stdout(command.usage);
    return undefined;
  }
  return parsed;
}
