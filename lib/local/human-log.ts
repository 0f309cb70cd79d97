/** A JSON logger whose records are printed as human-readable progress lines. */
import { createJsonLogger, type JsonLogger } from "../log";

export function humanLogger(log: (line: string) => void, component: string): JsonLogger {
  return createJsonLogger({ component }, (line) => {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      const {
        timestamp: _t,
        level,
        message,
        component: _c,
        ...rest
      } = record as {
        timestamp?: unknown;
        level?: unknown;
        message?: unknown;
        component?: unknown;
      } & Record<string, unknown>;
      const fields = Object.entries(rest)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      const text = (v: unknown, fallback: string) => (typeof v === "string" ? v : fallback);
      log(`${text(level, "info")}: ${text(message, "")}${fields ? ` (${fields})` : ""}`);
    } catch {
      log(line);
    }
  });
}
