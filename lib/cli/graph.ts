import { onePositional, parseCommandArgs } from "./args";
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
    const parsed = parseCommandArgs({ name: "graph", usage }, args, io, {
      help: { type: "boolean", short: "h" },
    });
    if (parsed === undefined) return EXIT.ok;
    const { positionals } = parsed;
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
