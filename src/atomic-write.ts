import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { DiskFullError } from "./disk-full.js";
import { errnoCode, ioError } from "./errors.js";

/** Writes a small file so readers see either the old or the new content, never a mix. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "wx", 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    if (errnoCode(e) === "ENOSPC") throw new DiskFullError(dirname(path), data.length, e);
    throw ioError(e, `writing ${path}`);
  }
}
