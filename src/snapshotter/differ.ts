/**
 * The differ's two halves:
 *  - `writeLayerTar`: a change set -> a deterministic tar (tar-stream pack). File bodies
 *    are streamed from disk one at a time, so memory is flat whatever the layer size.
 *  - `storeLayer`: a tar stream -> compressed blob in the content store, hashing the
 *    uncompressed bytes (diffID) on the way in and the compressed bytes (digest) on
 *    the way out, in one pass.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readlink } from "node:fs/promises";
import { Transform, type Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type tar from "tar-stream";
import { type ContentStore } from "../cache/content-store.js";
import { TbuildError, ioError } from "../errors.js";
import type { Change } from "./changes.js";
import { compressor, layerMediaType, type Compression } from "./compression.js";

export interface LayerDescriptor {
  mediaType: string;
  /** sha256 of the blob as stored (compressed). */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar, for the image config's rootfs.diff_ids. */
  diffID: string;
}

export interface TarOptions {
  /** Seconds since the epoch; later mtimes are clamped to it (reproducible builds). */
  sourceDateEpoch?: number;
}

/** SOURCE_DATE_EPOCH from the environment, when set to a sane value. */
export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env["SOURCE_DATE_EPOCH"];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) throw new TbuildError("invalid-argument", `SOURCE_DATE_EPOCH='${v}' is not a number of seconds`, { hint: "e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)" });
  return Number(v);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), "utf8"), body]);
}

/** Whether tar-stream can store `name` in a plain ustar header; mirrors its encoder, which otherwise adds a PAX path. */
function fitsUstar(name: string): boolean {
  if (Buffer.byteLength(name) !== name.length) return false;
  let rest = name;
  let prefix = "";
  while (rest.length > 100) {
    const i = rest.indexOf("/");
    if (i === -1) return false;
    prefix += prefix ? "/" + rest.slice(0, i) : rest.slice(0, i);
    rest = rest.slice(i + 1);
  }
  return prefix.length <= 155;
}

function devNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  const r = Number(rdev);
  return { devmajor: ((r >>> 8) & 0xfff) | (Number(rdev >> 32n) & ~0xfff), devminor: (r & 0xff) | ((r >>> 12) & ~0xff) };
}

const EMPTY_HEADER: tar.Header = { name: "", mode: 0, uid: 0, gid: 0, size: 0, mtime: new Date(0), type: "file", linkname: "", uname: "", gname: "", devmajor: 0, devminor: 0 };

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(value.toString(8).padStart(width - 1, "0") + "\0", offset, width, "latin1");
}

/** A PAX extended header ('x') block followed by its records, padded to 512 bytes. */
function paxHeaderBlock(records: Buffer, mtime: Date): Buffer {
  const h = Buffer.alloc(512);
  h.write("PaxHeader", 0, "latin1");
  octal(h, 0o644, 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  octal(h, records.length, 124, 12);
  octal(h, Math.floor(mtime.getTime() / 1000), 136, 12);
  h.write("x", 156, "latin1");
  h.write("ustar\x0000", 257, "latin1");
  h.fill(" ", 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  const pad = (512 - (records.length % 512)) % 512;
  return Buffer.concat([h, records, Buffer.alloc(pad)]);
}

/** Adds one entry and waits until tar-stream has taken it (entries are written in order). */
function addEntry(pack: tar.Pack, header: tar.Header, body?: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (body === undefined) {
      pack.entry(header, Buffer.alloc(0), (e) => (e ? reject(e) : resolve()));
      return;
    }
    const sink = pack.entry(header, (e) => (e ? reject(e) : resolve()));
    pipeline(body, sink as unknown as Writable).catch(reject);
  });
}

/**
 * Writes the tar for `changes` to `out`. Hard links are kept as links: the second path
 * of an inode seen in this layer becomes a link entry to the first. Extended attributes
 * go in a PAX header that we encode ourselves, since tar-stream's encoder would mangle
 * binary values (security.capability) by treating them as text.
 */
export async function writeLayerTar(changes: AsyncIterable<Change>, out: Writable, o: TarOptions = {}): Promise<void> {
  // Loaded on first use: a build whose steps are all cached never reads or writes a tar.
  const { default: tarLib } = await import("tar-stream");
  const pack = tarLib.pack();
  const piping = pipeline(pack as unknown as Readable, out);
  const seen = new Map<string, string>();
  const clamp = (sec: number): Date => new Date((o.sourceDateEpoch !== undefined && sec > o.sourceDateEpoch ? o.sourceDateEpoch : sec) * 1000);
  try {
    for await (const c of changes) {
      if (c.kind === "whiteout") {
        const mtime = clamp(o.sourceDateEpoch ?? 0);
        await addEntry(pack, { ...EMPTY_HEADER, name: c.path, mode: 0o100000, mtime });
        continue;
      }
      const st = c.st;
      // tar-stream replaces a mode of 0 by its default, so the type bits ride along (they are masked off when encoded).
      const header: tar.Header = {
        ...EMPTY_HEADER,
        name: c.path,
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime: clamp(Number(st.mtimeNs / 1_000_000_000n)),
      };
      const inode = `${st.dev}:${st.ino}`;
      const first = st.isFile() && st.nlink > 1n ? seen.get(inode) : undefined;
      if (first !== undefined) {
        header.type = "link";
        header.linkname = first;
      } else if (st.isFile()) {
        header.size = Number(st.size);
        if (st.nlink > 1n) seen.set(inode, c.path);
      } else if (st.isDirectory()) header.type = "directory";
      else if (st.isSymbolicLink()) {
        header.type = "symlink";
        header.linkname = await readlink(c.abs);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        header.type = st.isCharacterDevice() ? "character-device" : "block-device";
        Object.assign(header, devNumbers(st.rdev));
      } else if (st.isFIFO()) header.type = "fifo";
      else continue; // sockets have no tar representation and are not part of an image

      if (c.xattrs.length > 0) {
        const records = c.xattrs.map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, v));
        const name = header.type === "directory" ? `${c.path}/` : c.path;
        if (!fitsUstar(name)) {
          records.unshift(paxRecord("path", Buffer.from(name)));
          header.name = Buffer.from(name).subarray(0, 99).toString("latin1").replace(/[^\x20-\x7e]/g, "_");
        }
        if (header.linkname !== "" && (Buffer.byteLength(header.linkname) !== header.linkname.length || header.linkname.length > 100)) {
          records.push(paxRecord("linkpath", Buffer.from(header.linkname)));
          header.linkname = header.linkname.slice(0, 99).replace(/[^\x20-\x7e]/g, "_");
        }
        const pax = Buffer.concat(records);
        // Pushed raw between entries: tar-stream only writes PAX headers it encodes itself.
        pack.push(paxHeaderBlock(pax, header.mtime));
      }
      await addEntry(pack, header, header.type === "file" && header.size > 0 ? createReadStream(c.abs) : undefined);
    }
    pack.finalize();
  } catch (e) {
    pack.destroy(e instanceof Error ? e : new Error(String(e)));
    await piping.catch(() => undefined);
    throw e;
  }
  await piping;
}

/**
 * Compresses a tar stream into the content store. Returns the layer descriptor; on any
 * failure the partial blob is discarded.
 */
export async function storeLayer(tarStream: Readable, store: ContentStore, compression: Compression = "gzip"): Promise<LayerDescriptor> {
  const diff = createHash("sha256");
  const hashTar = new Transform({
    transform(chunk: Buffer, _e, cb) {
      diff.update(chunk);
      cb(null, chunk);
    },
  });
  const w = await store.writer();
  try {
    await pipeline(tarStream, hashTar, compressor(compression), w);
  } catch (e) {
    await w.abort();
    if (e instanceof TbuildError) throw e;
    throw ioError(e, `writing a layer into ${store.root}`);
  }
  const info = await w.commit();
  return { mediaType: layerMediaType(compression), digest: info.digest, size: info.size, diffID: `sha256:${diff.digest("hex")}` };
}
