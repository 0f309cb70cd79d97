/**
 * Registering a built artifact the way a developer expects from `dagy register` and `dagy dev`:
 * re-registering the same flow is a no-op even though every build stamps a new `built_at`,
 * and a changed flow under an already registered version is reported, never overwritten.
 * (Registered versions are immutable, locally as in AWS: a run always names the bytes it ran.)
 */
import { readArtifact } from "../artifact/artifact";
import { ConflictError } from "../errors";
import type { Persistence } from "../persistence/persistence";
import type { FlowRecord } from "../persistence/records";
import { registerFlow } from "../persistence/registry";
import type { FlowSpec } from "../sdk/types";
import type { ObjectStore } from "../storage/object-store";

export interface RegistrationTarget {
  readonly persistence: Persistence;
  readonly store: ObjectStore;
  readonly artifactBucket: string;
}

export type RegistrationOutcome =
  /** A new version was recorded and uploaded. */
  | { readonly status: "registered"; readonly record: FlowRecord }
  /** The version was already registered with the same flow code and spec: nothing changed. */
  | { readonly status: "unchanged"; readonly record: FlowRecord }
  /** The version is registered with different code or spec; the registered one stays. */
  | { readonly status: "conflict"; readonly record: FlowRecord; readonly message: string };

/** Same flow: same bundle bytes and same spec (the build timestamp does not count). */
function sameFlow(a: Buffer, b: Buffer): boolean {
  const left = readArtifact(a);
  const right = readArtifact(b);
  return (
    left.metadata.bundle_sha256 === right.metadata.bundle_sha256 &&
    JSON.stringify(left.spec) === JSON.stringify(right.spec)
  );
}

export async function registerArtifact(
  target: RegistrationTarget,
  orgId: string,
  spec: FlowSpec,
  artifact: Buffer,
  options: { readonly description?: string } = {},
): Promise<RegistrationOutcome> {
  const existing = await target.persistence.flows.get(orgId, spec.name, spec.version);
  if (existing !== undefined) {
    const stored = await target.store.get(existing.artifact_s3_uri).catch(() => undefined);
    if (stored !== undefined && sameFlow(stored, artifact)) {
      return { status: "unchanged", record: existing };
    }
    if (stored !== undefined) {
      return {
        status: "conflict",
        record: existing,
        message:
          `${spec.name} ${spec.version} is already registered for ${orgId} with different code ` +
          `(registered ${existing.registered_at}); the registered version stays. ` +
          "Bump the flow's version, or register under another with --version",
      };
    }
    // The record exists but its upload never completed: registerFlow finishes it below.
  }
  try {
    const record = await registerFlow({
      persistence: target.persistence,
      store: target.store,
      artifactBucket: target.artifactBucket,
      orgId,
      spec,
      artifact,
      ...(options.description !== undefined ? { description: options.description } : {}),
    });
    return { status: existing === undefined ? "registered" : "unchanged", record };
  } catch (error) {
    // Lost a race with a concurrent registration of other bytes, or the object is missing.
    if (error instanceof ConflictError) {
      const record = await target.persistence.flows.get(orgId, spec.name, spec.version);
      if (record) return { status: "conflict", record, message: error.message };
    }
    throw error;
  }
}
