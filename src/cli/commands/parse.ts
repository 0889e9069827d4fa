import path from "node:path";
import { readDockerfile } from "../../context/dockerfile.js";
import { outline, parseDockerfile, toJson } from "../../parser/index.js";
import type { Command } from "../command.js";
import { buildArgsOption, parseFlags } from "../args.js";

const usage = `Usage: tbuild parse [-f Dockerfile] [--json] [--target T] [--build-arg K=V]... [--platform P] [CONTEXT]

Parses a Dockerfile and prints its stages and instructions (or, with --json, the
JSON form documented in docs/parse-json.md). Exits 1 with file:line:col on error.`;

export const parseCommand: Command = {
  name: "parse",
  summary: "Parse a Dockerfile and print its stages and instructions",
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      parseCommand,
      {
        args: argv,
        allowPositionals: true,
        options: {
          file: { type: "string", short: "f" },
          json: { type: "boolean", default: false },
          target: { type: "string" },
          "build-arg": { type: "string", multiple: true },
          platform: { type: "string" },
          help: { type: "boolean", short: "h" },
        },
      },
    );
    if (values.help === true) {
      process.stdout.write(usage + "\n");
      return 0;
    }
    const context = positionals[0] ?? ".";
    const file = values.file ?? path.join(context, "Dockerfile");
    const text = await readDockerfile(file, context);
    const result = parseDockerfile(text, {
      file,
      buildArgs: buildArgsOption(values["build-arg"]),
      ...(values.target === undefined ? {} : { target: values.target }),
      ...(values.platform === undefined ? {} : { platform: values.platform }),
    });
    process.stdout.write((values.json ? JSON.stringify(toJson(result), null, 2) : outline(result)) + "\n");
    return 0;
  },
};
