import { shortDigest } from "../../oci/digest.js";
import { pushImage } from "../../store/registry-transfer.js";
import { openStore } from "../../store/image-store.js";
import { TbuildError } from "../../errors.js";
import type { Command } from "../command.js";
import { registryFlags, registryFlagsUsage, registryOptions } from "../registry-flags.js";
import { parseFlags, parseSize } from "../args.js";

const usage = `Usage: tbuild push [--root DIR] [--chunk-size SIZE] [-q] NAME [DEST]

Uploads a stored image (and, for a multi-platform image, every platform) to a
registry, as DEST or under its own name. Blobs the registry has are skipped; blobs
pulled from another repository of the same registry are mounted, not uploaded.
Blobs over --chunk-size (default 16m) are sent in chunks of that size.

${registryFlagsUsage}`;

const OUTCOME = { exists: "already exists", mounted: "mounted", uploaded: "pushed" } as const;

export const pushCommand: Command = {
  name: "push",
  summary: "Upload an image to a registry",
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      pushCommand,
      {
        args: argv,
        allowPositionals: true,
        options: {
          root: { type: "string" },
          "chunk-size": { type: "string" },
          quiet: { type: "boolean", short: "q" },
          help: { type: "boolean", short: "h" },
          ...registryFlags,
        },
      },
    );
    if (values.help === true) {
      process.stdout.write(usage + "\n");
      return 0;
    }
    const [name, dest, ...extra] = positionals;
    if (name === undefined || extra.length > 0) throw new TbuildError("invalid-argument", "push takes an image name and an optional destination", { hint: usage.split("\n")[0] });
    const chunk = values["chunk-size"] === undefined ? undefined : parseSize(values["chunk-size"], "--chunk-size");
    const store = await openStore(values.root);
    const quiet = values.quiet === true;
    const result = await pushImage(store, name, dest, {
      ...registryOptions(values),
      ...(chunk === undefined ? {} : { chunkSize: chunk, monolithicLimit: chunk }),
      onProgress: (e) => {
        if (!quiet && e.kind === "blob") process.stderr.write(`${shortDigest(e.digest)}: ${OUTCOME[e.outcome]} (${e.size} bytes)\n`);
      },
    });
    if (!quiet) process.stderr.write(`${result.reference}: digest ${result.digest}\n`);
    process.stdout.write(`${result.digest}\n`);
    return 0;
  },
};
