/**
 * Statuses are told by text and a symbol as well as colour (WCAG 1.4.1), in one place so the
 * runs list, the DAG and the timeline agree.
 */
import type { RunStatus, TaskStatus } from "./api";

export type AnyStatus = RunStatus | TaskStatus;

export const STATUS_SYMBOL: Record<AnyStatus, string> = {
  QUEUED: "◷",
  PENDING: "○",
  RUNNING: "▶",
  SUCCEEDED: "✓",
  FAILED: "✗",
  SKIPPED: "↷",
  CANCELLED: "⊘",
};

export function statusClass(status: string): string {
  return `status-${status.toLowerCase()}`;
}

export function StatusBadge({ status }: { readonly status: string }) {
  const symbol = STATUS_SYMBOL[status as AnyStatus] ?? "?";
  return (
    <span class={`badge ${statusClass(status)}`} data-status={status}>
      <span aria-hidden="true">{symbol} </span>
      {status}
    </span>
  );
}
