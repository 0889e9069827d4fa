import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TbuildError } from "../errors.js";
import { installHint } from "../os-tools.js";
import { compressionOf, decompressed, hasTool, toolStream } from "../snapshotter/compression.js";

const USTAR_OFFSET = 257;

export type ArchiveKind = "tar" | "gzip" | "zstd" | "xz" | "bzip2";

/**
 * What ADD should unpack `file` as: a tar, or a tar compressed with gzip, zstd, xz
 * or bzip2, told by content as Docker does (the name does not matter); undefined
 * for any other file, which ADD copies as it is.
 */
export async function archiveKind(file: string): Promise<ArchiveKind | undefined> {
  const handle = await open(file, "r");
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buf, 0, 512, 0);
    const head = buf.subarray(0, bytesRead);
    const compression = compressionOf(head);
    if (compression !== "none") return compression;
    if (bytesRead >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
    if (bytesRead >= 4 && head.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
    return bytesRead >= USTAR_OFFSET + 5 && head.subarray(USTAR_OFFSET, USTAR_OFFSET + 5).toString("latin1") === "ustar" ? "tar" : undefined;
  } finally {
    await handle.close();
  }
}

/** The archive's tar stream: gzip, zstd and plain tar in-process or with zstd; xz and bzip2 through their tools. */
async function tarStream(file: string, kind: ArchiveKind, archive: string): Promise<Readable> {
  if (kind !== "xz" && kind !== "bzip2") return decompressed(createReadStream(file), `ADD ${archive}`);
  const tool = kind === "xz" ? "xz" : "bzip2";
  if (!hasTool(tool)) {
    throw new TbuildError("unavailable", `ADD ${archive} is ${kind}-compressed and the ${tool} command is not installed`, { hint: installHint(tool) });
  }
  const input = createReadStream(file);
  const d = toolStream(tool, ["-d", "-c"], `decompressing ${archive}`);
  input.on("error", (e) => d.destroy(e));
  return input.pipe(d);
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
export async function archiveUnder(file: string, kind: ArchiveKind, dest: string): Promise<Readable> {
  const destRel = path.posix.normalize(dest).replace(/^\/+/, "");
  const archive = path.basename(file);
  const input = await tarStream(file, kind, archive);
  // Loaded on first use: a build whose steps are all cached never reads or writes a tar.
  const { default: tarLib } = await import("tar-stream");
  const extract = tarLib.extract();
  const pack = tarLib.pack();
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
