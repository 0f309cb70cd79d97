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

/** Previous / next through pages; `pages` undefined: more may follow (a next token). */
export function Pager({
  label,
  page,
  pages,
  onPage,
  summary,
}: {
  readonly label: string;
  readonly page: number;
  readonly pages: number | undefined;
  readonly onPage: (page: number) => void;
  readonly summary: string;
}) {
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" disabled={page === 0} onClick={() => onPage(page - 1)}>
        ← Previous
      </button>
      <span class="muted" role="status">
        {summary} · page {page + 1}
        {pages === undefined ? "" : ` of ${pages}`}
      </span>
      <button
        type="button"
        disabled={pages !== undefined && page >= pages - 1}
        onClick={() => onPage(page + 1)}
      >
        Next →
      </button>
    </nav>
  );
}
