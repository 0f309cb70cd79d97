/**
 * The worker's own ECS task ARN, from the task metadata endpoint v4: ECS injects
 * `ECS_CONTAINER_METADATA_URI_V4` into every container, and `${ECS_CONTAINER_METADATA_URI_V4}/task`
 * returns the task's metadata with `TaskARN` (AWS ECS Developer Guide, "Amazon ECS task metadata
 * endpoint version 4" and "task metadata v4 JSON response"). A warm Fargate worker needs it: the
 * launcher did not start it for its run, so the claim is where the run learns which task runs it.
 */
import { ConfigurationError } from "../errors";

/** The variable ECS injects into each container (Fargate platform 1.4.0 and later). */
export const ECS_METADATA_URI_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4";

/** Reads `TaskARN` of this task. Throws ConfigurationError when the endpoint is absent or odd. */
export async function readOwnTaskArn(
  env: Readonly<Record<string, string | undefined>>,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const base = env[ECS_METADATA_URI_VARIABLE]?.trim();
  if (!base) {
    throw new ConfigurationError(
      `${ECS_METADATA_URI_VARIABLE} is not set: a warm worker on Fargate needs the task metadata endpoint to learn its task ARN`,
    );
  }
  const response = await fetchImpl(`${base.replace(/\/+$/, "")}/task`, {
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) {
    throw new ConfigurationError(
      `the task metadata endpoint answered ${response.status} for /task`,
    );
  }
  const body = (await response.json()) as { TaskARN?: unknown };
  if (typeof body.TaskARN !== "string" || !body.TaskARN.startsWith("arn:")) {
    throw new ConfigurationError("the task metadata endpoint's /task reply has no TaskARN");
  }
  return body.TaskARN;
}
