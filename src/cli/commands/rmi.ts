import { TbuildError } from "../../errors.js";
import { displayName } from "../../store/image-store.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const rmiCommand: Command = {
  name: "rmi",
  summary: "Remove image names from the store (blobs are freed by 'tbuild prune')",
  usage: "tbuild rmi [--root DIR] NAME...",
  async run(argv) {
    const { values, positionals } = parseFlags(rmiCommand, { args: argv, options: storeOptions, allowPositionals: true });
    if (values.help === true) return printUsage(rmiCommand);
    if (positionals.length === 0) throw new TbuildError("invalid-argument", "rmi needs at least one image name", { hint: `usage: ${rmiCommand.usage}` });
    const store = await storeFromFlags(values);
    let failed = 0;
    for (const name of positionals) {
      try {
        const found = await store.find(name);
        await store.untag(name);
        process.stdout.write(found.name !== undefined ? `Untagged: ${displayName(found.name)}\n` : `Deleted: ${found.descriptor.digest}\n`);
      } catch (e) {
        if (!(e instanceof TbuildError)) throw e;
        process.stderr.write(`tbuild: ${e.message}\n${e.hint !== undefined ? `hint: ${e.hint}\n` : ""}`);
        failed++;
      }
    }
    return failed === 0 ? 0 : 1;
  },
};
