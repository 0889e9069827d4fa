import { shortDigest } from "../../oci/digest.js";
import { pullImage } from "../../store/registry-transfer.js";
import { openStore } from "../../store/image-store.js";
import { TbuildError } from "../../errors.js";
import type { Command } from "../command.js";
import { registryFlags, registryFlagsUsage, registryOptions } from "../registry-flags.js";
import { parseFlags } from "../args.js";

const usage = `Usage: tbuild pull [--platform OS/ARCH[/VARIANT]] [--all-platforms] [--root DIR] [-q] NAME[:TAG|@DIGEST]

Downloads an image from a registry into the local store and tags it. For a
multi-platform image the index is stored with the manifest for --platform
(default: this machine's), or every platform with --all-platforms.

${registryFlagsUsage}`;

export const pullCommand: Command = {
  name: "pull",
  summary: "Download an image from a registry",
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      pullCommand,
      {
        args: argv,
        allowPositionals: true,
        options: {
          platform: { type: "string" },
          "all-platforms": { type: "boolean" },
          root: { type: "string" },
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
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0) throw new TbuildError("invalid-argument", "pull takes exactly one image name", { hint: usage.split("\n")[0] });
    const store = await openStore(values.root);
    const quiet = values.quiet === true;
    const result = await pullImage(name, {
      ...registryOptions(values),
      store,
      ...(values.platform === undefined ? {} : { platform: values.platform }),
      allPlatforms: values["all-platforms"] === true,
      onProgress: (e) => {
        if (!quiet && e.kind === "blob") process.stderr.write(`${shortDigest(e.digest)}: ${e.outcome === "present" ? "already present" : "downloaded"} (${e.size} bytes)\n`);
      },
    });
    if (!quiet) process.stderr.write(`Digest: ${result.descriptor.digest}\n`);
    process.stdout.write(`${result.reference}\n`);
    return 0;
  },
};
