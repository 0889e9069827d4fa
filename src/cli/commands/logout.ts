import { TbuildError } from "../../errors.js";
import { eraseCredential } from "../../registry/credentials.js";
import type { Command } from "../command.js";
import { registryArg } from "./login.js";
import { parseFlags } from "../args.js";

const logoutUsage = `Usage: tbuild logout [REGISTRY]

Removes the saved credentials for REGISTRY (default docker.io).`;

export const logoutCommand: Command = {
  name: "logout",
  summary: "Remove saved registry credentials",
  usage: logoutUsage,
  async run(argv) {
    const { values, positionals } = parseFlags(logoutCommand, { args: argv, allowPositionals: true, options: { help: { type: "boolean", short: "h" } } });
    if (values.help === true) {
      process.stdout.write(logoutUsage + "\n");
      return 0;
    }
    if (positionals.length > 1) throw new TbuildError("invalid-argument", "logout takes one registry", { hint: logoutUsage.split("\n")[0] });
    const registry = registryArg(positionals[0]);
    const removed = await eraseCredential(registry);
    process.stdout.write(removed ? `Removed login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    return 0;
  },
};
