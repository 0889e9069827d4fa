import { storeUsage } from "../../maintenance/usage.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { formatSize, table } from "../format.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const duCommand: Command = {
  name: "du",
  summary: "Show disk space used by blobs, unpacked-layer snapshots and the build cache, and what prune frees",
  usage: "tbuild du [--root DIR]",
  async run(argv) {
    const { values } = parseFlags(duCommand, { args: argv, options: storeOptions });
    if (values.help === true) {
      return printUsage(
        duCommand,
        "  referenced blobs belong to an image or a build-cache record; the build cache row counts\n  its layers (already among the blobs) and what `tbuild prune --all` would free.",
      );
    }
    const store = await storeFromFlags(values);
    const { blobs, snapshots, buildCache } = await storeUsage(store);
    const total = blobs.referenced.bytes + blobs.unreferenced.bytes + snapshots.bytes;
    process.stdout.write(
      table([
        ["TYPE", "COUNT", "SIZE", "RECLAIMABLE"],
        ["referenced", String(blobs.referenced.count), formatSize(blobs.referenced.bytes), "0B"],
        ["unreferenced", String(blobs.unreferenced.count), formatSize(blobs.unreferenced.bytes), formatSize(blobs.unreferenced.bytes)],
        ["snapshots", String(snapshots.count), formatSize(snapshots.bytes), formatSize(snapshots.reclaimable.bytes)],
        ["build cache", `${buildCache.records} record(s)`, formatSize(buildCache.layers.bytes), `${formatSize(buildCache.reclaimableBytes)} with --all`],
        ["total", "", formatSize(total), formatSize(blobs.unreferenced.bytes + snapshots.reclaimable.bytes)],
      ]),
    );
    return 0;
  },
};
