/**
 * The identity of a launch request for idempotency: SHA-256 of the canonical JSON of the
 * validated request, without the fields that say who asked or how it is traced rather than
 * what to run. The same Idempotency-Key with another hash is a conflict, not a replay.
 */
import { sha256Hex } from "../hash";
import { canonicalJson } from "../json";
import type { DagLaunchRequest } from "./types";

/**
 * Not part of what is launched: the caller's identity and trigger (audit), the correlation
 * id (tracing; a batch derives a fresh one per call), and the key itself.
 */
const NOT_HASHED = [
  "triggeredBy",
  "triggerSource",
  "correlationId",
  "idempotencyKey",
] as const satisfies readonly (keyof DagLaunchRequest)[];

export function launchRequestHash(request: DagLaunchRequest): string {
  const hashed: Partial<DagLaunchRequest> = { ...request };
  for (const field of NOT_HASHED) delete hashed[field];
  return sha256Hex(canonicalJson(hashed));
}
