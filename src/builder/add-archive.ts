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

function isTarHeader(head: Buffer): boolean {
  return head.length >= USTAR_OFFSET + 5 && head.subarray(USTAR_OFFSET, USTAR_OFFSET + 5).toString("latin1") === "ustar";
}

/**
 * What ADD should unpack `file` as: a tar, or a tar compressed with gzip, zstd, xz
 * or bzip2, told by content as Docker does (the name does not matter); undefined
 * for any other file, which ADD copies as it is. A compressed file is an archive only
 * when what it decompresses to starts with a tar header (`data.gz` holding anything
 * else is copied as it is, as Docker does).
 */
export async function archiveKind(file: string): Promise<ArchiveKind | undefined> {
  const handle = await open(file, "r");
  let kind: ArchiveKind | undefined;
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buf, 0, 512, 0);
    const head = buf.subarray(0, bytesRead);
    const compression = compressionOf(head);
    if (compression !== "none") kind = compression;
    else if (bytesRead >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) kind = "xz";
    else if (bytesRead >= 4 && head.subarray(0, 3).toString("latin1") === "BZh") kind = "bzip2";
    else return isTarHeader(head) ? "tar" : undefined;
  } finally {
    await handle.close();
  }
  if ((kind === "xz" || kind === "bzip2") && !hasTool(kind)) return kind; // unpacking then says which tool to install
  return isTarHeader(await decompressedHead(file, kind)) ? kind : undefined;
}

/** The first 512 bytes `file` decompresses to; whatever cannot be decompressed gives none. */
async function decompressedHead(file: string, kind: ArchiveKind): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let stream: Readable | undefined;
  try {
    stream = await tarStream(file, kind, path.basename(file));
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      size += c.length;
      if (size >= 512) break;
    }
  } catch {
    // Not what its first bytes claimed: not an archive.
  } finally {
    stream?.destroy();
  }
  return Buffer.concat(chunks).subarray(0, 512);
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

/**
 * Where an entry lands: `name` moved under `destRel`, with the image's symlinks on
 * the way followed inside the image as COPY follows them (`ADD a.tar /bin/` on a
 * merged-/usr image unpacks into /usr/bin): the whole path for a directory, the
 * parent for anything else (which replaces what is there). Names that climb out of
 * the destination are refused.
 */
async function rebase(name: string, destRel: string, archive: string, place: (p: string) => Promise<string>, isDir: boolean): Promise<string> {
  const normal = path.posix.normalize("/" + name).slice(1);
  if (name.split("/").includes("..") && path.posix.normalize(name).startsWith("..")) {
    throw new TbuildError("invalid-argument", `ADD ${archive}: entry '${name}' points outside the destination`, { hint: "the archive is unsafe to unpack; rebuild it without '..' entries" });
  }
  const full = "/" + path.posix.join(destRel, normal);
  const placed = isDir || full === "/" ? await place(full) : path.posix.join(await place(path.posix.dirname(full)), path.posix.basename(full));
  return placed.replace(/^\/+/, "") + (name.endsWith("/") && normal !== "" ? "/" : "");
}

/**
 * The archive's entries as a tar stream with every name (and hard-link target)
 * moved under `dest` and through the image's symlinks (`place`: an image path with
 * its existing symlinks resolved inside the image), for the snapshotter's applier,
 * which refuses anything that would still land outside the root.
 */
export async function archiveUnder(file: string, kind: ArchiveKind, dest: string, place: (p: string) => Promise<string>): Promise<Readable> {
  const placed = new Map<string, Promise<string>>();
  const cachedPlace = (p: string): Promise<string> => {
    let hit = placed.get(p);
    if (hit === undefined) placed.set(p, (hit = place(p)));
    return hit;
  };
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
      const header = { ...entry.header, name: await rebase(entry.header.name, destRel, archive, cachedPlace, entry.header.type === "directory") };
      if (header.type === "link" && header.linkname !== undefined && header.linkname !== null) {
        header.linkname = await rebase(header.linkname, destRel, archive, cachedPlace, false);
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
