import { TbuildError } from "../../errors.js";
import { displayName } from "../../store/image-store.js";
import { loadArchive } from "../../store/load.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const loadCommand: Command = {
  name: "load",
  summary: "Load images from an OCI archive or a 'docker save' tar",
  usage: "tbuild load [--root DIR] -i FILE",
  async run(argv) {
    const { values } = parseFlags(loadCommand, { args: argv, options: { ...storeOptions, input: { type: "string", short: "i" } } });
    if (values.help === true) return printUsage(loadCommand, "  -i FILE      archive to read (gzip-compressed is fine)");
    if (values.input === undefined) throw new TbuildError("invalid-argument", "load: -i FILE is required", { hint: `usage: ${loadCommand.usage}` });
    const store = await storeFromFlags(values);
    for (const img of await loadArchive(store, values.input)) {
      process.stdout.write(img.name !== undefined ? `Loaded image: ${displayName(img.name)}\n` : `Loaded image ID: ${img.descriptor.digest}\n`);
    }
    return 0;
  },
};
