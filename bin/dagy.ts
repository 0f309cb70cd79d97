/**
 * The `dagy` CLI entry point (bin/dagy.js runs it through tsx). Builds the CLI's view of the
 * process — the only place the CLI reads process.* — and exits with the command's status.
 */
import { main } from "../lib/cli";

function onInterrupt(handler: () => void): () => void {
  // First Ctrl-C cancels the run gracefully; a second one gets Node's default (exit at once).
  process.once("SIGINT", handler);
  return () => {
    process.removeListener("SIGINT", handler);
  };
}

// `dagy logs <id> | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
}

main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  onInterrupt,
})
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error: unknown) => {
    // main() reports its own errors; this is a last resort.
    console.error(error);
    process.exitCode = 1;
  });
