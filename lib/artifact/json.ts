/**
 * Canonical JSON for artifact files: object keys in a fixed order (well-known fields first, in
 * reading order, then the rest alphabetically), two-space indent, trailing newline. The same
 * spec therefore always produces the same bytes, whatever order the SDK inserted keys in.
 */

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

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    const source = value as Record<string, unknown>;
    // No prototype, so a user key such as "__proto__" stays an ordinary key.
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(source).sort(compareKeys)) {
      if (source[key] !== undefined) out[key] = canonical(source[key]);
    }
    return out;
  }
  return value;
}

export function stableStringify(value: unknown): string {
  return `${JSON.stringify(canonical(value), null, 2)}\n`;
}
