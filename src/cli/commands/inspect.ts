import type { Command } from "../command.js";
import { parseFlags, requirePositionals } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const inspectCommand: Command = {
  name: "inspect",
  summary: "Print an image's descriptor, manifest and config as JSON",
  usage: "tbuild inspect [--root DIR] [--platform OS/ARCH[/VARIANT]] NAME",
  async run(argv) {
    const { values, positionals } = parseFlags(inspectCommand, { args: argv, options: { ...storeOptions, platform: { type: "string" } }, allowPositionals: true });
    if (values.help === true) return printUsage(inspectCommand, "  --platform   which manifest of a multi-platform image (default: this machine's)");
    requirePositionals(inspectCommand, positionals, 1);
    const store = await storeFromFlags(values);
    const [os, architecture, variant] = (values.platform ?? "").split("/");
    const platform = values.platform === undefined ? undefined : { os, architecture, ...(variant !== undefined ? { variant } : {}) };
    const image = await store.resolve(positionals[0]!, platform === undefined ? {} : { platform });
    const out = { name: image.name, descriptor: image.descriptor, index: image.index, manifestDescriptor: image.manifestDescriptor, manifest: image.manifest, config: image.config };
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    return 0;
  },
};
