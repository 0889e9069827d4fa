import { parseArgs } from "node:util";
import { diskUsage } from "../../store/gc.js";
import type { Command } from "../command.js";
import { formatSize, parseOrUsage, printUsage, storeOptions, storeFromFlags, table } from "../store-cli.js";

export const duCommand: Command = {
  name: "du",
  summary: "Show disk space used by the store's blobs, referenced and not",
  usage: "tbuild du [--root DIR]",
  async run(argv) {
    const { values } = parseOrUsage(this, () => parseArgs({ args: argv, options: storeOptions }));
    if (values.help === true) return printUsage(this);
    const store = await storeFromFlags(values);
    const du = await diskUsage(store);
    const total = du.referenced.bytes + du.unreferenced.bytes;
    process.stdout.write(
      table([
        ["TYPE", "BLOBS", "SIZE", "RECLAIMABLE"],
        ["referenced", String(du.referenced.count), formatSize(du.referenced.bytes), "0B"],
        ["unreferenced", String(du.unreferenced.count), formatSize(du.unreferenced.bytes), formatSize(du.unreferenced.bytes)],
        ["total", String(du.referenced.count + du.unreferenced.count), formatSize(total), formatSize(du.unreferenced.bytes)],
      ]),
    );
    return 0;
  },
};
