import { parseArgs } from "node:util";
import { TbuildError } from "../../errors.js";
import { displayName } from "../../store/image-store.js";
import { loadArchive } from "../../store/load.js";
import type { Command } from "../command.js";
import { parseOrUsage, printUsage, storeOptions, storeFromFlags } from "../store-cli.js";

export const loadCommand: Command = {
  name: "load",
  summary: "Load images from an OCI archive or a 'docker save' tar",
  usage: "tbuild load [--root DIR] -i FILE",
  async run(argv) {
    const { values } = parseOrUsage(this, () => parseArgs({ args: argv, options: { ...storeOptions, input: { type: "string", short: "i" } } }));
    if (values.help === true) return printUsage(this, "  -i FILE      archive to read (gzip-compressed is fine)");
    if (values.input === undefined) throw new TbuildError("invalid-argument", "load: -i FILE is required", { hint: `usage: ${this.usage}` });
    const store = await storeFromFlags(values);
    for (const img of await loadArchive(store, values.input)) {
      process.stdout.write(img.name !== undefined ? `Loaded image: ${displayName(img.name)}\n` : `Loaded image ID: ${img.descriptor.digest}\n`);
    }
    return 0;
  },
};
