/**
 * The one list of environment variable names a caller may not set, and the one validator for a
 * run's variables. Used by launch validation (`extra_env_vars`, `secrets_env`), the launcher, and
 * the executor when it exports parameters as variables.
 *
 * A variable a runtime interprets turns "set an environment variable" into "run my code":
 * `NODE_OPTIONS=--import=data:...` runs JavaScript before the flow, `LD_PRELOAD` loads a shared
 * library, `BASH_ENV` sources a script in every non-interactive shell, a proxy variable reroutes
 * the worker's AWS calls. Sources: glibc's UNSECURE_ENVVARS (what it strips for setuid programs),
 * sudo's env_delete list, and the documentation of each runtime below.
 *
 * Allowed on purpose: `TZ`, `LANG`, `LANGUAGE` and `LC_*` select a time zone or a locale that is
 * already installed (flows legitimately set them to format dates); glibc's risks there come from
 * the path variables (`LOCPATH`, `NLSPATH`, `TZDIR`, `GCONV_PATH`), which are reserved.
 */
import { controlCharacterMessage, findControlCharacter } from "./text";

/** Names a run's variable may take: upper-case POSIX names (`OUTPUT_BUCKET`). */
export const ENV_NAME_PATTERN = /^[A-Z_][A-Z0-9_]*$/;

/** Each group: the prefixes or exact names it reserves, and why. */
export const RESERVED_ENV_GROUPS: readonly {
  readonly prefixes?: readonly string[];
  readonly names?: readonly string[];
  readonly reason: string;
}[] = [
  { prefixes: ["DAGY_"], reason: "Dagy's own worker inputs (run id, org, parameters)" },
  {
    prefixes: ["AWS_", "ECS_"],
    reason: "AWS SDK credentials, regions and endpoints; the ECS credential and metadata URIs",
  },
  {
    prefixes: ["NODE_", "NPM_", "COREPACK_", "UV_"],
    reason:
      "Node.js (NODE_OPTIONS loads code, NODE_EXTRA_CA_CERTS trusts CAs), npm config, corepack, libuv",
  },
  {
    prefixes: ["LD_", "DYLD_", "MALLOC_"],
    names: ["GLIBC_TUNABLES", "GCONV_PATH", "GETCONF_DIR", "LOCPATH", "NLSPATH", "TZDIR"],
    reason: "the dynamic loader and libc (preloaded libraries, tunables, module and data paths)",
  },
  {
    names: ["HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "RESOLV_HOST_CONF", "NIS_PATH"],
    reason: "the libc resolver (where host names resolve)",
  },
  {
    prefixes: ["OPENSSL_", "SSL_CERT_"],
    reason: "OpenSSL configuration, engines and trusted certificates",
  },
  {
    names: ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY"],
    reason: "proxies reroute the worker's HTTP, including its AWS calls",
  },
  {
    names: ["PATH", "HOME", "SHELL", "TMPDIR", "TMP", "TEMP"],
    reason: "where programs, home, shell and temporary files are found",
  },
  {
    names: ["BASH_ENV", "ENV", "IFS", "PS4", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "CDPATH"],
    prefixes: ["BASH_FUNC_"],
    reason: "shells source or interpret them in every script the flow runs",
  },
  {
    prefixes: ["PYTHON", "PERL5", "PERLIO", "RUBY", "GIT_"],
    names: ["PERLLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH"],
    reason: "other runtimes a flow may start (and git, which npm runs) load code from them",
  },
];

const RESERVED_PREFIXES = RESERVED_ENV_GROUPS.flatMap((g) => g.prefixes ?? []);
const RESERVED_NAMES = new Set(RESERVED_ENV_GROUPS.flatMap((g) => g.names ?? []));

/** Bytes (UTF-8) of one value. Linux refuses one string over 128 KiB in execve. */
export const MAX_ENV_VALUE_BYTES = 32 * 1024;
/** Bytes of all names and values a caller sets for one run. */
export const MAX_ENV_TOTAL_BYTES = 128 * 1024;

/** The group reserving `name` (compared upper-cased), or undefined. */
export function reservedEnvGroup(name: string): (typeof RESERVED_ENV_GROUPS)[number] | undefined {
  const upper = name.toUpperCase();
  return RESERVED_ENV_GROUPS.find(
    (g) => (g.names ?? []).includes(upper) || (g.prefixes ?? []).some((p) => upper.startsWith(p)),
  );
}

export function isReservedEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return RESERVED_NAMES.has(upper) || RESERVED_PREFIXES.some((p) => upper.startsWith(p));
}

/** Why `name` may not be set by a caller, or undefined when it may. */
export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME_PATTERN.test(name)) {
    const control = findControlCharacter(name, "none");
    if (control !== undefined) return `names ${controlCharacterMessage(control, "none")}`;
    return `names must match ${ENV_NAME_PATTERN.source} (upper-case letters, digits and '_', not starting with a digit)`;
  }
  const group = reservedEnvGroup(name);
  if (group !== undefined) return `${name} is reserved: ${group.reason}`;
  return undefined;
}

/** Why `value` may not be a variable's value, or undefined when it may. */
export function envValueProblem(value: string): string | undefined {
  // Values may span lines (a PEM); NUL would truncate them and other controls are never text.
  const control = findControlCharacter(value, "whitespace");
  if (control !== undefined) return controlCharacterMessage(control, "whitespace");
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > MAX_ENV_VALUE_BYTES) {
    return `must be at most ${MAX_ENV_VALUE_BYTES} bytes (is ${bytes})`;
  }
  return undefined;
}

/** Why a whole set of variables is refused (its total size), or undefined. */
export function envTotalProblem(vars: Readonly<Record<string, string>>): string | undefined {
  let total = 0;
  for (const [name, value] of Object.entries(vars)) {
    total += Buffer.byteLength(name, "utf8") + Buffer.byteLength(value, "utf8") + 2;
  }
  return total > MAX_ENV_TOTAL_BYTES
    ? `names and values must total at most ${MAX_ENV_TOTAL_BYTES} bytes (are ${total})`
    : undefined;
}
