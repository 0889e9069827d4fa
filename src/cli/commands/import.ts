import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type { Readable } from "node:stream";
import type { Command } from "../command.js";
import { TbuildError, errnoCode } from "../../errors.js";
import { decompressed, sourceDateEpochFromEnv, storeLayer, type Compression } from "../../snapshotter/index.js";
import { hostPlatform } from "../../oci/platform.js";
import { parseFlags, requirePositionals } from "../args.js";
import { printUsage, storeFromFlags, storeOptions } from "../store-flags.js";

async function openInput(path: string): Promise<Readable> {
  if (path === "-") return process.stdin;
  try {
    if (!(await stat(path)).isFile()) throw new TbuildError("invalid-argument", `import: ${path} is not a file`, { hint: "give a root filesystem tarball (.tar, .tar.gz or .tar.zst), or - for stdin" });
  } catch (e) {
    if (errnoCode(e) === "ENOENT") throw new TbuildError("not-found", `import: ${path} does not exist`);
    throw e;
  }
  return createReadStream(path);
}

/**
 * `tbuild import ROOTFS.tar NAME`, as `docker import`: the tarball (plain, gzip or zstd)
 * becomes the single layer of a new image, recompressed through the differ's path so
 * diffID and digest come from one streaming pass.
 */
export const importCommand: Command = {
  name: "import",
  summary: "Create an image from a root filesystem tarball",
  usage: "tbuild import [--root DIR] [--compression gzip|zstd|none] ROOTFS.tar|- NAME",
  async run(argv) {
    const { values, positionals } = parseFlags(importCommand, { args: argv, options: { ...storeOptions, compression: { type: "string", default: "gzip" } }, allowPositionals: true });
    if (values.help === true) return printUsage(importCommand, "  --compression gzip|zstd|none   layer compression (default gzip)");
    requirePositionals(importCommand, positionals, 2);
    const [file, name] = positionals as [string, string];
    const compression = values.compression as Compression;
    if (!["gzip", "zstd", "none"].includes(compression)) {
      throw new TbuildError("invalid-argument", `import: unknown compression '${compression}'`, { hint: "use gzip, zstd or none" });
    }
    const store = await storeFromFlags(values);
    const tarStream = await decompressed(await openInput(file), file === "-" ? "stdin" : file);
    const layer = await storeLayer(tarStream, store.content, compression);
    const epoch = sourceDateEpochFromEnv();
    const created = new Date(epoch === undefined ? Date.now() : epoch * 1000).toISOString();
    const desc = await store.putImage({
      config: {
        created,
        ...hostPlatform(),
        config: {},
        rootfs: { type: "layers", diff_ids: [layer.diffID] },
        history: [{ created, created_by: `tbuild import ${file === "-" ? "-" : basename(file)}`, comment: "imported from a root filesystem tarball" }],
      },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
      name,
    });
    process.stdout.write(`${desc.digest}\n`);
    return 0;
  },
};
