/**
 * Local secrets: in AWS, ECS injects Secrets Manager values into the container; locally the
 * LocalBackend reads them from `<dataDir>/secrets.json`, a JSON object mapping the secret ARN a
 * launch names (`--secret DB_PASSWORD=arn:...`) to its value. The file never leaves the
 * machine, is created owner-readable only, and its values are never printed or logged.
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigurationError } from "../errors";

export const SECRETS_FILE_NAME = "secrets.json";

export function localSecretsPath(dataDir: string): string {
  return join(dataDir, SECRETS_FILE_NAME);
}

/**
 * Reads and validates the secrets file. A missing file means no secrets. Throws a
 * ConfigurationError naming the file and the offending entry when the shape is wrong.
 */
export async function readLocalSecrets(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(
      `${file} is not valid JSON (${(error as Error).message}); expected {"<secret arn>": "<value>"}`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigurationError(`${file} must hold a JSON object {"<secret arn>": "<value>"}`);
  }
  const secrets: Record<string, string> = {};
  for (const [arn, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== "string") {
      throw new ConfigurationError(
        `${file}: the value of "${arn}" must be a string (got ${value === null ? "null" : typeof value})`,
      );
    }
    secrets[arn] = value;
  }
  return secrets;
}

/**
 * Creates an empty secrets file (mode 0600) when there is none, so users find where secrets
 * go; returns how many secrets it holds. An existing file is validated, never rewritten.
 */
export async function ensureLocalSecretsFile(file: string): Promise<number> {
  try {
    await writeFile(file, "{}\n", { flag: "wx", mode: 0o600 });
    return 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const secrets = await readLocalSecrets(file);
  // Tighten a file a user created with default permissions; ignore filesystems without modes.
  await chmod(file, 0o600).catch(() => undefined);
  return Object.keys(secrets).length;
}
