/**
 * gzip for layers, in this process: the tar is cut into BLOCK-sized blocks at fixed stream
 * offsets, each deflated on libuv's thread pool (several at once, so every core works, with
 * no compressor process and no pipes to feed), and written out in order as one gzip member.
 * Data that will not compress (random bytes, files already compressed) is stored as it is:
 * deflate spends ~10x the CPU on such data to save nothing (250 MB of random data: 5.3 s of
 * CPU in pigz -6, against 0.6 s for as much text).
 *
 * The output depends on the input bytes alone (block and piece boundaries are stream
 * offsets, not chunk boundaries), so equal tars give equal blobs, with this Node's zlib.
 */
import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { constants, deflateRaw } from "node:zlib";

const deflateRawAsync = promisify(deflateRaw);

/** CRC-32 (gzip's) of `data` continuing from `crc`: zlib's where Node has it (20.15+), else this table's. */
const crc32: (data: Uint8Array, crc: number) => number =
  (zlib as { crc32?: (data: Uint8Array, crc: number) => number }).crc32 ??
  (() => {
    const table = new Uint32Array(256).map((_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c;
    });
    return (data: Uint8Array, crc: number): number => {
      let c = ~crc;
      for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
      return ~c >>> 0;
    };
  })();

/** Bytes deflated per thread-pool job; each block restarts the window, which costs well under 1% of size. */
const BLOCK = 1 << 20;
/** The unit of the stored-or-deflated choice. */
const PIECE = 64 * 1024;
/** One byte in SAMPLE_STRIDE is looked at to estimate a piece's entropy. */
const SAMPLE_STRIDE = 16;
/**
 * Order-0 entropy (bits per byte) above which a piece is stored. Uniformly random bytes
 * measure ~7.95 on PIECE / SAMPLE_STRIDE samples; text ~4.5, machine code ~6, an already
 * compressed file ~7.95.
 */
const STORED_ABOVE = 7.8;
/** The largest stored deflate block. */
const STORED_MAX = 65535;
/**
 * Blocks being deflated at once: one per core, but no more than libuv's 4 pool threads
 * can run (more would only hold memory: each is a block in and its output).
 */
const IN_FLIGHT = Math.min(4, Math.max(2, availableParallelism()));

/** 1f 8b, deflate, no flags, mtime 0, no extra flags, OS unix: as `gzip -n` / `pigz -n`. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
/** A final, empty fixed-Huffman block: ends the deflate stream after a sync flush. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

const LOG2 = new Float64Array(PIECE / SAMPLE_STRIDE + 1).map((_, i) => (i === 0 ? 0 : Math.log2(i)));

/**
 * A run of stream bytes held as the input's own chunks (slices of them), never copied
 * into one buffer unless deflate needs it contiguous.
 */
class Span {
  constructor(
    readonly parts: Buffer[],
    readonly length: number,
  ) {}

  /** Bytes [start, end) as slices of the parts. */
  slice(start: number, end: number): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    for (const p of this.parts) {
      const from = Math.max(start, at);
      const to = Math.min(end, at + p.length);
      if (from < to) out.push(p.subarray(from - at, to - at));
      at += p.length;
      if (at >= end) break;
    }
    return out;
  }
}

/**
 * Whether `slices` (one piece) looks incompressible, from the byte histogram of a sample:
 * every SAMPLE_STRIDE-th byte from the piece's start.
 */
function incompressible(slices: Buffer[]): boolean {
  const counts = new Uint32Array(256);
  let n = 0;
  let skip = 0; // where the next sample falls in the next slice
  for (const b of slices) {
    let i = skip;
    for (; i < b.length; i += SAMPLE_STRIDE, n++) counts[b[i]!]!++;
    skip = i - b.length;
  }
  if (n < 1024) return false; // too few samples to tell: deflate it
  // H = log2 n - (1/n) * sum c log2 c
  let sum = 0;
  for (const c of counts) if (c > 1) sum += c * LOG2[c]!;
  return LOG2[n]! - sum / n > STORED_ABOVE;
}

/** `slices` as stored (uncompressed) deflate blocks, none of them final; the data itself is not copied. */
function stored(slices: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  const span = new Span(slices, slices.reduce((n, b) => n + b.length, 0));
  for (let off = 0; off < span.length; off += STORED_MAX) {
    const len = Math.min(STORED_MAX, span.length - off);
    const head = Buffer.allocUnsafe(5);
    head[0] = 0x00; // BFINAL 0, BTYPE 00, padded to the byte
    head.writeUInt16LE(len, 1);
    head.writeUInt16LE(~len & 0xffff, 3);
    out.push(head, ...span.slice(off, off + len));
  }
  return out;
}

/**
 * One block as deflate blocks that end on a byte boundary and are not final: runs of
 * compressible pieces deflated (ending with a sync flush), runs of incompressible ones stored.
 */
async function encodeBlock(block: Span): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let runStart = 0;
  let runStored = false;
  const endRun = async (end: number): Promise<void> => {
    if (end === runStart) return;
    const run = block.slice(runStart, end);
    if (runStored) out.push(...stored(run));
    else {
      const input = run.length === 1 ? run[0]! : Buffer.concat(run);
      // An output buffer the whole deflated run fits in: zlib's default (16 KiB) hands each
      // 16 KiB back to the main thread before the pool thread may go on, and the main
      // thread is busy reading and hashing the tar, so the pool threads waited on it.
      const deflated = await deflateRawAsync(input, { level: 6, finishFlush: constants.Z_SYNC_FLUSH, chunkSize: input.length + (input.length >> 8) + 1024 });
      // Text shrinks to a quarter or less: keep a copy of that, not the whole output buffer
      // (streams count the slice's length, so queued slices would hold 4x what they say).
      out.push(deflated.length * 2 < deflated.buffer.byteLength ? Buffer.from(deflated) : deflated);
    }
    runStart = end;
  };
  for (let off = 0; off < block.length; off += PIECE) {
    const s = incompressible(block.slice(off, Math.min(off + PIECE, block.length)));
    if (s !== runStored) {
      await endRun(off);
      runStored = s;
    }
  }
  await endRun(block.length);
  return out;
}

/** A transform from bytes to one gzip member (see the module comment). */
export function blockGzip(): Transform {
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let crc = 0;
  let total = 0;
  const inFlight: Promise<Buffer[]>[] = [];
  let headerSent = false;

  const cutBlocks = (all: boolean): void => {
    while (pendingLength >= BLOCK || (all && pendingLength > 0)) {
      const held = new Span(pending, pendingLength);
      const size = Math.min(BLOCK, pendingLength);
      const block = new Span(held.slice(0, size), size);
      pending = held.slice(size, pendingLength);
      pendingLength -= size;
      const encoding = encodeBlock(block);
      encoding.catch(() => undefined); // awaited in order later; not an unhandled rejection meanwhile
      inFlight.push(encoding);
    }
  };

  return new Transform({
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      if (!headerSent) {
        this.push(GZIP_HEADER);
        headerSent = true;
      }
      crc = crc32(chunk, crc);
      total += chunk.length;
      pending.push(chunk);
      pendingLength += chunk.length;
      cutBlocks(false);
      void (async () => {
        while (inFlight.length >= IN_FLIGHT) for (const b of await inFlight.shift()!) this.push(b);
      })().then(() => cb(), cb);
    },
    flush(this: Transform, cb: TransformCallback): void {
      if (!headerSent) this.push(GZIP_HEADER);
      cutBlocks(true);
      void (async () => {
        while (inFlight.length > 0) for (const b of await inFlight.shift()!) this.push(b);
        const trailer = Buffer.allocUnsafe(8);
        trailer.writeUInt32LE(crc >>> 0, 0);
        trailer.writeUInt32LE(total % 2 ** 32, 4);
        this.push(Buffer.concat([FINAL_BLOCK, trailer]));
      })().then(() => cb(), cb);
    },
  });
}
