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
