import { prune } from "../../maintenance/prune.js";
import type { Command } from "../command.js";
import { parseFlags, parseSize } from "../args.js";
import { formatSize } from "../format.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const pruneCommand: Command = {
  name: "prune",
  summary: "Delete blobs, unpacked-layer snapshots and build-cache records nothing uses, and leftovers of dead builds",
  usage: "tbuild prune [--root DIR] [--all] [--keep-storage SIZE] [--dry-run]",
  async run(argv) {
    const { values } = parseFlags(pruneCommand, { args: argv, options: { ...storeOptions, all: { type: "boolean", short: "a" }, "keep-storage": { type: "string" }, "dry-run": { type: "boolean" } } });
    if (values.help === true) {
      return printUsage(
        pruneCommand,
        [
          "  -a, --all    also drop every build-cache record (the next build runs every step),",
          "               freeing the layers only the cache kept",
          "  --keep-storage SIZE  keep up to SIZE of removable blobs and snapshots, most recent first (e.g. 10GB)",
          "  --dry-run    only list what would be deleted",
          "",
          "Without --all, build-cache records stay unless their layer is gone. A running build, pull,",
          "load or push holds a lease on the blobs and snapshots it uses or will reuse (and the blobs",
          "written since it started): those stay. What a killed process left (its scratch directory,",
          "working snapshots, half-made snapshot directories, its lease) goes.",
        ].join("\n"),
      );
    }
    const keep = values["keep-storage"];
    const dryRun = values["dry-run"] === true;
    const store = await storeFromFlags(values);
    const r = await prune(store, { all: values.all === true, dryRun, ...(keep !== undefined ? { keepStorage: parseSize(keep, "--keep-storage") } : {}) });
    const verb = dryRun ? "Would delete" : "Deleted";
    const out = (line: string): boolean => process.stdout.write(`${line}\n`);
    for (const key of r.cacheRecords) out(`${verb} build cache record: ${key}`);
    for (const s of r.snapshots) out(`${verb} snapshot: ${s.key}`);
    for (const b of r.removed) out(`${verb}: ${b.digest}`);
    for (const p of r.scratch.paths) out(`${verb} abandoned build directory: ${p}`);
    const extras = [
      r.snapshots.length > 0 ? `${r.snapshots.length} snapshot(s)` : "",
      r.cacheRecords.length > 0 ? `${r.cacheRecords.length} build cache record(s)` : "",
      r.scratch.paths.length > 0 ? `${r.scratch.paths.length} abandoned build director${r.scratch.paths.length === 1 ? "y" : "ies"}` : "",
      r.ingest.files > 0 ? `${r.ingest.files} abandoned partial download(s)` : "",
    ].filter((x) => x !== "");
    const total = r.removedBytes + r.snapshotBytes + r.scratch.bytes + r.ingest.bytes;
    out(`Total reclaimed space: ${formatSize(total)} (${r.removed.length} blob(s)${extras.map((x) => `, ${x}`).join("")})`);
    if (r.leases > 0) out(`${r.leases} build(s), pull(s), load(s) or push(es) running: what they hold was kept`);
    return 0;
  },
};
