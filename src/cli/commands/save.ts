import { parseArgs } from "node:util";
import { TbuildError } from "../../errors.js";
import { exportImage } from "../../store/export/index.js";
import type { Command } from "../command.js";
import { parseOrUsage, printUsage, requirePositionals, storeOptions, storeFromFlags } from "../store-cli.js";

export const saveCommand: Command = {
  name: "save",
  summary: "Write an image to a tar archive (OCI, or docker load format)",
  usage: "tbuild save [--root DIR] [--format oci|docker] -o FILE NAME",
  async run(argv) {
    const { values, positionals } = parseOrUsage(this, () =>
      parseArgs({ args: argv, options: { ...storeOptions, output: { type: "string", short: "o" }, format: { type: "string", default: "oci" } }, allowPositionals: true }),
    );
    if (values.help === true) return printUsage(this, "  -o FILE      archive to write ('-' for stdout)\n  --format     oci (default) or docker");
    requirePositionals(this, positionals, 1);
    const format = values.format;
    if (format !== "oci" && format !== "docker") throw new TbuildError("invalid-argument", `save: unknown --format '${format}'`, { hint: "use --format oci or --format docker" });
    const dest = values.output ?? "-";
    if (dest === "-" && process.stdout.isTTY) {
      throw new TbuildError("invalid-argument", "save: refusing to write an archive to the terminal", { hint: "pass -o FILE or redirect stdout" });
    }
    const store = await storeFromFlags(values);
    await exportImage(store, positionals[0]!, { type: format, dest });
    return 0;
  },
};
