import type { Command } from "../command.js";
import { parseFlags, requirePositionals } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const tagCommand: Command = {
  name: "tag",
  summary: "Give a stored image another name",
  usage: "tbuild tag [--root DIR] SOURCE TARGET",
  async run(argv) {
    const { values, positionals } = parseFlags(tagCommand, { args: argv, options: storeOptions, allowPositionals: true });
    if (values.help === true) return printUsage(tagCommand);
    requirePositionals(tagCommand, positionals, 2);
    const store = await storeFromFlags(values);
    const source = await store.find(positionals[0]!);
    await store.tag(source.descriptor, positionals[1]!);
    return 0;
  },
};
