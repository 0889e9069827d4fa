/**
 * The differ's two halves:
 *  - `writeLayerTar`: a change set -> a deterministic tar (headers from tar-header.ts),
 *    written in chunks of about 1 MiB: per-entry writes of headers and small bodies
 *    cost more than the bytes (10,000 small files made ~30,000 writes to the compressor).
 *    Small files are read whole, large ones a chunk at a time, so memory
 *    is flat whatever the layer size.
 *  - `storeLayer`: a tar stream -> compressed blob in the content store, hashing the
 *    uncompressed bytes (diffID) on the way in and the compressed bytes (digest) on
 *    the way out, in one pass.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { open, readlink } from "node:fs/promises";
import { Transform, type Readable, type Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import type { ContentInfo, ContentIngester } from "../content/content.js";
import { TbuildError, errnoCode, ioError } from "../errors.js";
import type { LayerDescriptor } from "../oci/layer.js";
import type { Change } from "./changes.js";
import { compressor, layerMediaType, type Compression } from "./compression.js";
import { encodeHeader, END_OF_TAR, padding, type TarHeader } from "./tar-header.js";

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

const EMPTY_HEADER: TarHeader = { name: "", mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, type: "file", linkname: "", devmajor: 0, devminor: 0 };

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(value.toString(8).padStart(width - 1, "0") + "\0", offset, width, "latin1");
}

/** A PAX extended header ('x') block followed by its records, padded to 512 bytes. */
function paxHeaderBlock(records: Buffer, mtimeSec: number): Buffer {
  const h = Buffer.alloc(512);
  h.write("PaxHeader", 0, "latin1");
  octal(h, 0o644, 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  octal(h, records.length, 124, 12);
  octal(h, mtimeSec, 136, 12);
  h.write("x", 156, "latin1");
  h.write("ustar\x0000", 257, "latin1");
  h.fill(" ", 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  const pad = (512 - (records.length % 512)) % 512;
  return Buffer.concat([h, records, Buffer.alloc(pad)]);
}

/** Tar bytes gathered into chunks of about CHUNK: few, large writes to the hash and the compressor. */
const CHUNK = 1 << 20;
/**
 * Files up to this size are read whole, synchronously: a handful of syscalls on the main
 * thread cost less than three thread-pool round trips per file (open, read, close), which
 * on a busy machine wait on the pool's lock. Larger ones are streamed CHUNK at a time.
 */
const SMALL_FILE = 256 * 1024;

class ChunkedOut {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(private readonly out: Writable) {}

  async push(...bufs: Buffer[]): Promise<void> {
    for (const b of bufs) {
      if (b.length === 0) continue;
      this.parts.push(b);
      this.length += b.length;
    }
    if (this.length >= CHUNK) await this.flush();
  }

  private closedEarly(): Error {
    return this.out.errored ?? new Error("the layer's output closed early");
  }

  async flush(): Promise<void> {
    if (this.length === 0) return;
    const chunk = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    // A consumer that failed (a full disk, a dead compressor) destroys the stream: its 'close' has
    // been and gone, so waiting for 'drain' would wait forever.
    if (this.out.destroyed) throw this.closedEarly();
    if (this.out.write(chunk)) return;
    if (this.out.destroyed) throw this.closedEarly();
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error): void => {
        this.out.off("drain", onDrain).off("error", done).off("close", onClose);
        if (e === undefined) resolve();
        else reject(e);
      };
      const onDrain = (): void => done();
      const onClose = (): void => done(this.closedEarly());
      this.out.on("drain", onDrain).on("error", done).on("close", onClose);
    });
  }
}

function changedWhileCopied(abs: string): TbuildError {
  return new TbuildError("failed-precondition", `${abs} changed while its layer was being written`, { hint: "do not modify the build's files while it runs, then build again" });
}

function unreadable(e: unknown, abs: string): TbuildError {
  return errnoCode(e) === "ENOENT" ? changedWhileCopied(abs) : ioError(e, `reading ${abs} for a layer`);
}

/** A whole small file, exactly `size` bytes (see SMALL_FILE). */
function readSmall(abs: string, size: number): Buffer {
  let fd: number;
  try {
    fd = openSync(abs, "r");
  } catch (e) {
    throw unreadable(e, abs);
  }
  try {
    const buf = Buffer.allocUnsafe(size);
    let have = 0;
    while (have < size) {
      const n = readSync(fd, buf, have, size - have, have);
      if (n === 0) throw changedWhileCopied(abs);
      have += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** A large file's first `size` bytes, CHUNK at a time. */
async function pushLarge(out: ChunkedOut, abs: string, size: number): Promise<void> {
  const fh = await open(abs, "r").catch((e: unknown) => {
    throw unreadable(e, abs);
  });
  try {
    for (let have = 0; have < size; ) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - have));
      const { bytesRead } = await fh.read(buf, 0, buf.length, have);
      if (bytesRead === 0) throw changedWhileCopied(abs);
      await out.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      have += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/**
 * An entry whose header is already known and whose body is read from a stream rather
 * than a file on disk: a layer made by rewriting another layer's tar (COPY --from).
 * The body must be exactly `header.size` bytes.
 */
export interface StreamedEntry {
  kind: "streamed";
  header: TarHeader;
  body?: AsyncIterable<Buffer>;
}

/** What a layer tar is written from: changes on disk, or entries streamed from another tar. */
export type LayerItem = Change | StreamedEntry;

/** A streamed body, checked to be exactly `size` bytes (a short one would misalign every later header). */
async function pushStream(out: ChunkedOut, chunks: AsyncIterable<Buffer>, size: number): Promise<void> {
  let have = 0;
  for await (const chunk of chunks) {
    have += chunk.length;
    await out.push(chunk);
  }
  if (have !== size) throw new TbuildError("internal", `a streamed layer entry had ${have} bytes where its header says ${size}`);
  await out.push(padding(size));
}

/** One entry ready to write: header blocks, and where its body is. */
interface Planned {
  blocks: Buffer[];
  body?: { abs: string; size: number };
  stream?: { chunks: AsyncIterable<Buffer>; size: number };
}

/**
 * The tar entries for `changes`, in order. Hard links: the second path of an inode seen
 * in this layer becomes a link entry to the first.
 */
async function* plannedEntries(changes: AsyncIterable<LayerItem>, o: TarOptions): AsyncGenerator<Planned> {
  const seen = new Map<string, string>();
  const clamp = (sec: number): number => (o.sourceDateEpoch !== undefined && sec > o.sourceDateEpoch ? o.sourceDateEpoch : sec);
  for await (const c of changes) {
    if (c.kind === "streamed") {
      const header = { ...c.header, mtime: clamp(c.header.mtime) };
      const blocks = encodeHeader(header);
      yield c.body !== undefined && header.type === "file" && header.size > 0 ? { blocks, stream: { chunks: c.body, size: header.size } } : { blocks };
    } else if (c.kind === "whiteout") {
      yield { blocks: encodeHeader({ ...EMPTY_HEADER, name: c.path, mode: 0o100000, mtime: clamp(o.sourceDateEpoch ?? 0) }) };
    } else {
      const st = c.st;
      const header: TarHeader = { ...EMPTY_HEADER, name: c.path, mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtime: clamp(Number(st.mtimeNs / 1_000_000_000n)) };
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

      const blocks: Buffer[] = [];
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
        // Encoded here rather than by the header encoder, which would mangle binary values (security.capability).
        blocks.push(paxHeaderBlock(Buffer.concat(records), header.mtime));
      }
      blocks.push(...encodeHeader(header));
      yield header.type === "file" && header.size > 0 ? { blocks, body: { abs: c.abs, size: header.size } } : { blocks };
    }
  }
}

/**
 * Writes the tar for `changes` to `out`, file bodies read from disk as it goes (small
 * files whole, large ones a chunk at a time), so memory stays flat
 * whatever the layer size. Extended attributes go in a PAX header.
 */
export async function writeLayerTar(changes: AsyncIterable<LayerItem>, out: Writable, o: TarOptions = {}): Promise<void> {
  const chunked = new ChunkedOut(out);
  try {
    for await (const { blocks, body, stream } of plannedEntries(changes, o)) {
      await chunked.push(...blocks);
      if (stream !== undefined) await pushStream(chunked, stream.chunks, stream.size);
      if (body === undefined) continue;
      if (body.size <= SMALL_FILE) await chunked.push(readSmall(body.abs, body.size), padding(body.size));
      else {
        await pushLarge(chunked, body.abs, body.size);
        await chunked.push(padding(body.size));
      }
    }
    await chunked.push(END_OF_TAR);
    await chunked.flush();
  } catch (e) {
    out.destroy(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
  out.end();
  await finished(out, { readable: false });
}

/**
 * Compresses a tar stream into the content store. Returns the layer descriptor; on any
 * failure the partial blob is discarded.
 */
export async function storeLayer(tarStream: Readable, store: ContentIngester & ContentInfo, compression: Compression = "gzip"): Promise<LayerDescriptor> {
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
    throw ioError(e, `writing a layer into ${store.location}`);
  }
  const info = await w.commit();
  return { mediaType: layerMediaType(compression), digest: info.digest, size: info.size, diffID: `sha256:${diff.digest("hex")}` };
}
