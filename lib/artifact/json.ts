/**
 * Canonical JSON for artifact files: object keys in a fixed order (well-known fields first, in
 * reading order, then the rest alphabetically), two-space indent, trailing newline. The same
 * spec therefore always produces the same bytes, whatever order the SDK inserted keys in.
 */
import { canonicalJson } from "../json";

/** Fields of `flow_spec.json` / `metadata.json` that read best first, in this order. */
const LEADING_KEYS = [
  "spec_version",
  "name",
  "version",
  "description",
  "id",
  "task",
  "upstream",
  "type",
  "required",
  "default",
  "built_at",
  "sdk_version",
  "source",
  "entry",
  "bundle_sha256",
  "parameters",
  "max_parallelism",
  "tags",
  "options",
  "input",
  "tasks",
  "edges",
];
const LEADING_RANK = new Map(LEADING_KEYS.map((key, index) => [key, index]));

function compareKeys(a: string, b: string): number {
  const ra = LEADING_RANK.get(a);
  const rb = LEADING_RANK.get(b);
  if (ra !== undefined && rb !== undefined) return ra - rb;
  if (ra !== undefined) return -1;
  if (rb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function stableStringify(value: unknown): string {
  return `${canonicalJson(value, { compareKeys, indent: 2 })}\n`;
}
