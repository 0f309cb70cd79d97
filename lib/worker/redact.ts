/**
 * Removes secret values from text before it leaves the worker (log lines, error messages,
 * task errors, the traceback object). The values come from the env variables the run declares
 * as secrets; they are never stored.
 */
export const REDACTED = "***";

export type Redact = (text: string) => string;

/**
 * A function replacing every occurrence of each value with `***` — both as written and as it
 * appears inside a JSON string (quotes, backslashes and control characters escaped), since log
 * lines are JSON. Longer values are replaced first so one secret containing another is removed
 * whole.
 */
export function createRedactor(secretValues: readonly string[]): Redact {
  const forms = new Set<string>();
  for (const value of secretValues) {
    if (value.length === 0) continue;
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
  }
  if (forms.size === 0) return (text) => text;
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const form of sorted) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
    return out;
  };
}

/**
 * Redacts everything the process writes to stdout and stderr — task code's own
 * `console.log(process.env.DB_PASSWORD)` included, which never passes through the logger.
 * Each write is redacted whole (console writes one line per call). Returns an undo function.
 */
export function redactProcessOutput(
  redact: Redact,
  streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr],
): () => void {
  // Each stream's own write, bound so it can be called from the replacement.
  const originals = streams.map(
    (stream) => stream.write.bind(stream) as (...args: unknown[]) => boolean,
  );
  const replaced = streams.map((stream) => Object.getOwnPropertyDescriptor(stream, "write"));
  streams.forEach((stream, i) => {
    const original = originals[i]!;
    stream.write = function (chunk: unknown, ...rest: unknown[]) {
      const text =
        typeof chunk === "string"
          ? chunk
          : chunk instanceof Uint8Array
            ? Buffer.from(chunk).toString("utf8")
            : chunk;
      const redacted = typeof text === "string" ? redact(text) : text;
      // Unchanged output is passed through as it came (bytes stay bytes).
      const out = redacted === text ? chunk : redacted;
      return original(out, ...rest);
    };
  });
  return () => {
    streams.forEach((stream, i) => {
      const own = replaced[i];
      if (own) Object.defineProperty(stream, "write", own);
      else delete (stream as { write?: unknown }).write; // back to the prototype's
    });
  };
}
