/**
 * Canonical JSON: object keys in a fixed order (alphabetical unless told otherwise), undefined
 * members dropped. The same value always gives the same text, whatever order its keys were
 * inserted in — what a content hash and a reproducible file need.
 */

export interface CanonicalJsonOptions {
  /** Key order. Default: code-unit order (`<`). */
  readonly compareKeys?: (a: string, b: string) => number;
  /** As JSON.stringify's `space`. Default: none (one line). */
  readonly indent?: number;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function canonical(value: unknown, compareKeys: (a: string, b: string) => number): unknown {
  if (Array.isArray(value)) return value.map((v) => canonical(v, compareKeys));
  if (value !== null && typeof value === "object") {
    const source = value as Record<string, unknown>;
    // No prototype, so a user key such as "__proto__" stays an ordinary key.
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(source).sort(compareKeys)) {
      if (source[key] !== undefined) out[key] = canonical(source[key], compareKeys);
    }
    return out;
  }
  return value;
}

export function canonicalJson(value: unknown, options: CanonicalJsonOptions = {}): string {
  return JSON.stringify(canonical(value, options.compareKeys ?? byCodeUnit), null, options.indent);
}
