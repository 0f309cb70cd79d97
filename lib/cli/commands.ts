import type { CliCommand } from "./io";

/* eslint-disable @typescript-eslint/no-require-imports --
 * Lazy `require`, not `import()`: bin/dagy.js runs the CLI through tsx's CommonJS hook, which
 * native dynamic import() bypasses, and jest and esbuild handle `require` the same way. */

/**
 * The `dagy` command table. Each command lives in its own module, loaded only when it runs, so
 * `dagy --help` and light commands start fast (esbuild and the AWS SDK load on demand).
 * To add a command: write `lib/cli/<name>.ts` exporting `command: CliCommand`, add a row here.
 */
export interface CommandEntry {
  readonly name: string;
  /** One line for `dagy --help`. */
  readonly summary: string;
  readonly load: () => Promise<CliCommand>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "build",
    summary: "Bundle a flow into an artifact zip (flow_spec.json, metadata.json, flow.js)",
    load: async () => (require("./build") as typeof import("./build")).command,
  },
  {
    name: "run",
    summary: "Run a flow file or artifact in this process and print its progress",
    load: async () => (require("./run") as typeof import("./run")).command,
  },
  {
    name: "graph",
    summary: "Print a flow's DAG as a Mermaid flowchart",
    load: async () => (require("./graph") as typeof import("./graph")).command,
  },
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}
