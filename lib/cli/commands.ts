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
    summary: "Type-check and bundle a flow into an artifact zip (spec, metadata, bundle, sources)",
    load: async () => (require("./build") as typeof import("./build")).command,
  },
  {
    name: "init",
    summary: "Scaffold a flow project: package.json scripts, tsconfig.json, a flow and its test",
    load: async () => (require("./init") as typeof import("./init")).command,
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
  {
    name: "dev",
    summary:
      "Start the whole platform on this machine (npm start): API, stores, workers, schedules",
    load: async () => (require("./dev") as typeof import("./dev")).command,
  },
  {
    name: "register",
    summary: "Build (if needed), upload and record a flow version for an org",
    load: async () => (require("./register") as typeof import("./register")).command,
  },
  {
    name: "launch",
    summary: "Launch a run of a registered flow (--wait to follow it to the end)",
    load: async () => (require("./launch") as typeof import("./launch")).command,
  },
  {
    name: "status",
    summary: "Show a run: status, times, error, task states",
    load: async () => (require("./status") as typeof import("./status")).command,
  },
  {
    name: "runs",
    summary: "List an org's runs (--flow, --status, --limit)",
    load: async () => (require("./runs") as typeof import("./runs")).command,
  },
  {
    name: "logs",
    summary: "Print a run's worker log, readable (--follow)",
    load: async () => (require("./logs") as typeof import("./logs")).command,
  },
  {
    name: "traceback",
    summary: "Print the traceback a failed run left",
    load: async () => (require("./traceback") as typeof import("./traceback")).command,
  },
  {
    name: "cancel",
    summary: "Cancel a queued or running run",
    load: async () => (require("./cancel") as typeof import("./cancel")).command,
  },
  {
    name: "rerun",
    summary: "Re-run a finished run, from the start or its failure (--from-failure)",
    load: async () => (require("./rerun") as typeof import("./rerun")).command,
  },
  {
    name: "deps",
    summary: "Push or list dependency packages",
    load: async () => (require("./deps") as typeof import("./deps")).command,
  },
  {
    name: "deployments",
    summary: "Set or list deployments (named sets of dependency packages)",
    load: async () => (require("./deployments") as typeof import("./deployments")).command,
  },
  {
    name: "console",
    summary: "Serve the run console on 127.0.0.1 for the local platform, a --url or a stack",
    load: async () => (require("./console") as typeof import("./console")).command,
  },
  {
    name: "schedules",
    summary: "List, create or delete runtime schedules",
    load: async () => (require("./schedules") as typeof import("./schedules")).command,
  },
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}
