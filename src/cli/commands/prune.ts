import { parseArgs } from "node:util";
import { gc } from "../../store/gc.js";
import { gcRootProviders } from "../../store/gc-roots.js";
import type { Command } from "../command.js";
import { formatSize, parseOrUsage, parseSize, printUsage, storeOptions, storeFromFlags } from "../store-cli.js";

export const pruneCommand: Command = {
  name: "prune",
  summary: "Delete blobs no image or cache refers to, and abandoned partial downloads",
  usage: "tbuild prune [--root DIR] [--keep-storage SIZE] [--dry-run]",
  async run(argv) {
    const { values } = parseOrUsage(this, () =>
      parseArgs({ args: argv, options: { ...storeOptions, "keep-storage": { type: "string" }, "dry-run": { type: "boolean" } } }),
    );
    if (values.help === true) {
      return printUsage(this, "  --keep-storage SIZE  keep up to SIZE of unreferenced blobs, newest first (e.g. 10GB)\n  --dry-run    only list what would be deleted");
    }
    const keep = values["keep-storage"];
    const store = await storeFromFlags(values);
    const result = await gc(store, {
      roots: gcRootProviders,
      dryRun: values["dry-run"] === true,
      ...(keep !== undefined ? { keepStorage: parseSize(keep, "--keep-storage") } : {}),
    });
    const verb = values["dry-run"] === true ? "Would delete" : "Deleted";
    for (const b of result.removed) process.stdout.write(`${verb}: ${b.digest}\n`);
    const ingest = result.ingest.files > 0 ? ` and ${result.ingest.files} abandoned partial download(s) (${formatSize(result.ingest.bytes)})` : "";
    process.stdout.write(`Total reclaimed space: ${formatSize(result.removedBytes + result.ingest.bytes)} (${result.removed.length} blob(s)${ingest})\n`);
    return 0;
  },
};
