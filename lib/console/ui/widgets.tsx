import type { ComponentChildren } from "preact";
import { ApiError } from "./api";

export function ErrorNote({ error, what }: { readonly error: Error; readonly what?: string }) {
  const status = error instanceof ApiError && error.status > 0 ? ` (HTTP ${error.status})` : "";
  return (
    <p class="error-note" role="alert">
      {what ? `${what}: ` : ""}
      {error.message}
      {status}
    </p>
  );
}

/** A `<dl>` of label/value pairs; pairs whose value is null or undefined are left out. */
export function Facts({
  items,
  label,
}: {
  readonly items: ReadonlyArray<readonly [string, ComponentChildren | null | undefined]>;
  readonly label: string;
}) {
  const shown = items.filter(([, value]) => value !== null && value !== undefined && value !== "");
  return (
    <dl class="facts" aria-label={label}>
      {shown.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Loading({ what }: { readonly what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}
