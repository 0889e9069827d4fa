import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DiskFullError } from "./disk-full.js";
import { errnoCode, ioError, TbuildError } from "./errors.js";

/**
 * The temporary name a file is written under before its rename. `prune` recognises the
 * `.<pid>-<12 hex>.tmp` shape to remove those of processes killed in between.
 */
function tempName(path: string): string {
  return `${path}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
}

/** Writes a small file so readers see either the old or the new content, never a mix. */
export async function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await replaceWith(path, Buffer.byteLength(data), async (tmp) => {
    // Created with its final mode: a secret (mode 0600) is never readable by others, even briefly.
    const fh = await open(tmp, "wx", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** As writeAtomic, for content that arrives as a stream (a blob): never held in memory. */
export async function writeStreamAtomic(path: string, source: Readable): Promise<void> {
  await replaceWith(path, undefined, async (tmp) => {
    await pipeline(source, createWriteStream(tmp, { flags: "wx", mode: 0o644 }));
    const fh = await open(tmp, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/**
 * Runs `write(tmp)`, then renames tmp over `path`; on any failure removes tmp. `size` is
 * what a full disk message says was needed; for a stream, what had been written.
 */
async function replaceWith(path: string, size: number | undefined, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tempName(path);
  try {
    await write(tmp);
    await rename(tmp, path);
  } catch (e) {
    const written = size ?? (await stat(tmp).catch(() => undefined))?.size ?? 0;
    await rm(tmp, { force: true });
    if (e instanceof TbuildError) throw e;
    if (errnoCode(e) === "ENOSPC") throw new DiskFullError(dirname(path), written, e);
    throw ioError(e, `writing ${path}`);
  }
}
