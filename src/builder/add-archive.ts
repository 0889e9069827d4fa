import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { TbuildError } from "../errors.js";
import { decompressed } from "../snapshotter/compression.js";

const USTAR_OFFSET = 257;

/**
 * Whether ADD should unpack `file`: a tar, or a gzip or zstd compressed tar, told
 * by content, as Docker does (the name does not matter).
 */
export async function isLocalArchive(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 4 && head[0] === 0x1f && head[1] === 0x8b) return true;
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return true;
    return bytesRead >= USTAR_OFFSET + 5 && head.subarray(USTAR_OFFSET, USTAR_OFFSET + 5).toString("latin1") === "ustar";
  } finally {
    await handle.close();
  }
}

/** Moves an archive path under `destRel`, refusing names that climb out of it. */
function rebase(name: string, destRel: string, archive: string): string {
  const normal = path.posix.normalize("/" + name).slice(1);
  if (name.split("/").includes("..") && path.posix.normalize(name).startsWith("..")) {
    throw new TbuildError("invalid-argument", `ADD ${archive}: entry '${name}' points outside the destination`, { hint: "the archive is unsafe to unpack; rebuild it without '..' entries" });
  }
  return path.posix.join(destRel, normal) + (name.endsWith("/") && normal !== "" ? "/" : "");
}

/**
 * The archive's entries as a tar stream with every name (and hard-link target)
 * moved under `dest`, for the snapshotter's applier, which refuses anything that
 * would still land outside the root.
 */
export async function archiveUnder(file: string, dest: string): Promise<Readable> {
  const destRel = path.posix.normalize(dest).replace(/^\/+/, "");
  const archive = path.basename(file);
  const input = await decompressed(createReadStream(file), `ADD ${archive}`);
  const extract = tar.extract();
  const pack = tar.pack();
  const out = new PassThrough();
  void pipeline(pack as unknown as Readable, out).catch((e: unknown) => out.destroy(e as Error));
  void (async () => {
    for await (const entry of extract) {
      const header = { ...entry.header, name: rebase(entry.header.name, destRel, archive) };
      if (header.type === "link" && header.linkname !== undefined && header.linkname !== null) {
        header.linkname = rebase(header.linkname, destRel, archive);
      }
      const sink = pack.entry(header);
      await pipeline(entry, sink as unknown as NodeJS.WritableStream);
    }
    pack.finalize();
  })().catch((e: unknown) => pack.destroy(e as Error));
  input.on("error", (e) => extract.destroy(e));
  input.pipe(extract);
  return out;
}
