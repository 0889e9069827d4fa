import { shortDigest } from "../../oci/digest.js";
import { displayName } from "../../store/image-store.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { formatSize, relativeTime, table } from "../format.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

export const imagesCommand: Command = {
  name: "images",
  summary: "List images in the local store",
  usage: "tbuild images [--root DIR] [--digests]",
  async run(argv) {
    const { values } = parseFlags(imagesCommand, { args: argv, options: { ...storeOptions, digests: { type: "boolean" } } });
    if (values.help === true) return printUsage(imagesCommand, "  --digests    show full digests");
    const store = await storeFromFlags(values);
    const rows = [["NAME", "DIGEST", "CREATED", "SIZE"]];
    const images = (await store.listImages()).sort((a, b) => displayName(a.name).localeCompare(displayName(b.name)));
    for (const img of images) {
      const resolved = await store.resolve(img.descriptor.digest).catch(() => undefined);
      const size = resolved === undefined ? undefined : resolved.manifestDescriptor.size + resolved.manifest.config.size + resolved.manifest.layers.reduce((n, l) => n + l.size, 0);
      rows.push([
        displayName(img.name),
        values.digests === true ? img.descriptor.digest : shortDigest(img.descriptor.digest),
        relativeTime(resolved?.config.created),
        size === undefined ? "incomplete" : formatSize(size),
      ]);
    }
    process.stdout.write(table(rows));
    return 0;
  },
};
