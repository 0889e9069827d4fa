#!/usr/bin/env node
import { existsSync } from "node:fs";
import { TbuildError } from "../errors.js";
import { nearest } from "../parser/suggest.js";
import { commands } from "./commands/index.js";
import { reportError } from "./report.js";
import { installSignalHandlers } from "./interrupt.js";

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return ["Usage: tbuild <command> [options]", "", "Commands:", ...lines, "", "Run 'tbuild <command> --help' for a command's options, 'tbuild --version' for the version."].join("\n");
}

/** `tbuild biuld`: tbuild's own words and a "did you mean", never a dump of the whole help. */
function unknownCommand(word: string): TbuildError {
  const guess = nearest(word, commands.map((c) => c.name));
  const hint = existsSync(word) ? `to build the directory ${word}: tbuild build ${word}` : "'tbuild --help' lists the commands";
  return new TbuildError("invalid-argument", `unknown command '${word}'${guess === undefined ? "" : `; did you mean '${guess}'?`}`, { hint });
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(helpText() + "\n");
    return first === undefined ? 1 : 0;
  }
  const name = first === "--version" || first === "-v" ? "version" : first;
  const command = commands.find((c) => c.name === name);
  if (command !== undefined) return (await command.load()).run(rest);
  // `tbuild --verison` is a slip of tbuild's own flags, not a build flag: say so before
  // `tbuild -t name .` (which is `tbuild build -t name .`, as docker build users expect) takes it.
  const ownFlag = first.startsWith("--") ? nearest(first.slice(2).replace(/=.*$/, ""), ["version", "help"]) : undefined;
  if (ownFlag !== undefined) throw new TbuildError("invalid-argument", `unknown flag ${first}; did you mean --${ownFlag}?`, { hint: "'tbuild --help' lists the commands" });
  const build = commands.find((c) => c.name === "build");
  if (first.startsWith("-") && build !== undefined) return (await build.load()).run(argv);
  throw unknownCommand(first);
}

installSignalHandlers();

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
