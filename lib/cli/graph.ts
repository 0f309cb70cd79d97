import { parseArgs } from "node:util";
import { onePositional, parseOrUsage } from "./args";
import { loadTarget } from "./flow-target";
import { EXIT, type CliCommand } from "./io";

const usage = `Usage: dagy graph <flow.ts|artifact.zip>

Prints the flow's DAG as a Mermaid flowchart (paste it into a Markdown \`\`\`mermaid block).

Options:
  -h, --help    Show this help.
`;

export const command: CliCommand = {
  name: "graph",
  usage,
  async run(args, io) {
    const { values, positionals } = parseOrUsage("graph", () =>
      parseArgs({
        args,
        options: { help: { type: "boolean", short: "h" } },
        allowPositionals: true,
        strict: true,
      }),
    );
    if (values.help) {
      io.stdout(usage);
      return EXIT.ok;
    }
    const target = onePositional(
      "graph",
      positionals,
      "flow file or artifact (dagy graph <flow.ts|artifact.zip>)",
    );
    const { dag } = await loadTarget(target, io);
    io.stdout(dag.toMermaid());
    return EXIT.ok;
  },
};
