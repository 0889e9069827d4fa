import { TbuildError } from "../../errors.js";
import { exportImage, exporters } from "../../store/export/index.js";
import type { Command } from "../command.js";
import { parseFlags, requirePositionals } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

const formats = Object.keys(exporters);

export const saveCommand: Command = {
  name: "save",
  summary: "Write an image to a tar archive (OCI, or docker load format), or its root filesystem to a directory or a tar",
  usage: "tbuild save [--root DIR] [--format oci|docker|local|tar] -o FILE|DIR NAME",
  async run(argv) {
    const { values, positionals } = parseFlags(saveCommand, { args: argv, options: { ...storeOptions, output: { type: "string", short: "o" }, format: { type: "string", default: "oci" } }, allowPositionals: true });
    if (values.help === true) {
      return printUsage(
        saveCommand,
        "  -o FILE|DIR  archive to write ('-' for stdout), or the directory for --format local\n  --format     oci (default), docker, local (the flattened root filesystem; as a\n               normal user every file is owned by you, as with a rootless docker build),\n               or tar (that root filesystem as one tar, owners as in the image)",
      );
    }
    requirePositionals(saveCommand, positionals, 1);
    const format = values.format;
    if (!formats.includes(format)) throw new TbuildError("invalid-argument", `save: unknown --format '${format}'`, { hint: `use --format ${formats.join(", ")}` });
    if (format === "local" && values.output === undefined) throw new TbuildError("invalid-argument", "save --format local needs -o DIR", { hint: "e.g. tbuild save --format local -o rootfs myimage" });
    const dest = values.output ?? "-";
    if (dest === "-" && process.stdout.isTTY) {
      throw new TbuildError("invalid-argument", "save: refusing to write an archive to the terminal", { hint: "pass -o FILE or redirect stdout" });
    }
    const store = await storeFromFlags(values);
    const result = await exportImage(store, positionals[0]!, { type: format, dest });
    for (const w of result.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
    return 0;
  },
};
