#!/usr/bin/env node
import { commands } from "./commands/index.js";
import { reportError } from "./report.js";

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return ["Usage: tbuild <command> [options]", "", "Commands:", ...lines, "", "Run 'tbuild <command> --help' for a command's options."].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(helpText() + "\n");
    return first === undefined ? 1 : 0;
  }
  const command = commands.find((c) => c.name === first);
  if (command !== undefined) return (await command.load()).run(rest);
  // `tbuild -t name .` is `tbuild build -t name .`, as `docker build` users expect.
  const build = commands.find((c) => c.name === "build");
  if (first.startsWith("-") && build !== undefined) return (await build.load()).run(argv);
  process.stderr.write(`tbuild: unknown command '${first}'\n\n${helpText()}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
