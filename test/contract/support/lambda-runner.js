/**
 * Runs one Lambda bundle the way the Node.js runtime does: a plain Node process (no test
 * framework, no transpiler) that requires the asset's index.js once — the cold start — and
 * then hands each event to its handler. Events and results travel over the IPC channel.
 * What the handler writes to stdout during an invocation (its log, which Lambda sends to
 * CloudWatch Logs) returns with the result as `logs`, one entry per line.
 * Usage: fork(this file, [bundlePath, exportName], { env }).
 */
"use strict";
const [bundlePath, exportName] = process.argv.slice(2);
let captured = [];
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  captured.push(String(chunk));
  return write(chunk, ...rest);
};
const takeLogs = () => {
  const lines = captured
    .join("")
    .split("\n")
    .filter((line) => line.length > 0);
  captured = [];
  return lines;
};
let handler;
try {
  handler = require(bundlePath)[exportName];
  if (typeof handler !== "function") throw new Error(`${bundlePath} exports no ${exportName}`);
} catch (error) {
  process.send({
    type: "init-error",
    error: { message: String(error && error.message), stack: String(error && error.stack) },
  });
  process.exit(1);
}
process.on("message", (message) => {
  captured = [];
  Promise.resolve()
    .then(() => handler(message.event))
    .then(
      (result) =>
        process.send({
          id: message.id,
          result: result === undefined ? null : result,
          logs: takeLogs(),
        }),
      (error) =>
        process.send({
          id: message.id,
          error: { message: String(error && error.message), code: error && error.code },
          logs: takeLogs(),
        }),
    );
});
process.send({ type: "ready" });
