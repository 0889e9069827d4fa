import { fsck } from "../../maintenance/fsck.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const fsckCommand: Command = {
  name: "fsck",
  summary: "Check the store: blobs against their digests, images and build-cache records against their blobs, snapshots against their directories",
  usage: "tbuild fsck [--root DIR] [--repair]",
  async run(argv) {
    const { values } = parseFlags(fsckCommand, { args: argv, options: { ...storeOptions, repair: { type: "boolean" } } });
    if (values.help === true) {
      return printUsage(
        fsckCommand,
        [
          "  --repair     remove what is broken: corrupt blobs, images that lost a blob (pull or build",
          "               them again), build-cache records whose layer is gone, snapshot directories no",
          "               metadata lists, and what killed processes left",
          "",
          "Exit status: 0 when the store is sound (or every problem was repaired), 1 when problems remain.",
        ].join("\n"),
      );
    }
    const store = await storeFromFlags(values);
    const r = await fsck(store, { repair: values.repair === true });
    const out = (line: string): boolean => process.stdout.write(`${line}\n`);
    for (const p of r.problems) out(`${p.repaired ? "repaired" : "problem"}: ${p.message}`);
    out(`checked ${r.blobs} blob(s), ${r.images} image(s), ${r.cacheRecords} build cache record(s), ${r.snapshots} snapshot(s); ${r.unreferenced} unreferenced blob(s) (tbuild prune frees them)`);
    if (r.problems.length === 0) {
      out("the store is sound");
      return 0;
    }
    if (values.repair === true) {
      out(`${r.problems.length} problem(s) repaired`);
      return 0;
    }
    process.stderr.write(`tbuild: ${r.problems.length} problem(s) found in ${store.root}\nhint: run 'tbuild fsck --repair' to remove what is broken\n`);
    return 1;
  },
};
