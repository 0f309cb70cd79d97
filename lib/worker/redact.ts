/**
 * Keeps secret values from leaving the worker through its own stdout and stderr. The values
 * come from the env variables the run declares as secrets; they are never stored. The
 * redactor itself is lib/log's createRedactor, the one the logger uses.
 */
import type { Redact } from "../log";

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
