import { createHash } from "node:crypto";
import { createReadStream, readFileSync, type BigIntStats } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeAtomic } from "../atomic-write.js";
import { errnoCode } from "../errors.js";

/** What a remembered digest is valid for: "size mtimeNs ctimeNs ino" of the file's lstat. */
function stampOf(st: BigIntStats): string {
  return `${st.size} ${st.mtimeNs} ${st.ctimeNs} ${st.ino}`;
}

/**
 * Files up to this size are read whole and synchronously: a few syscalls on the main
 * thread cost less than four thread-pool round trips (open, fstat, read, close), which
 * on a busy machine wait on the pool's lock. Larger ones are streamed, so memory stays flat.
 */
const READ_WHOLE = 256n * 1024n;

/** sha256 (hex) of a file's content; `size` (from its stat) picks one read or a stream. */
export async function hashFile(abs: string, size: bigint): Promise<string> {
  const h = createHash("sha256");
  if (size <= READ_WHOLE) h.update(readFileSync(abs));
  else for await (const chunk of createReadStream(abs)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * A file whose mtime is this close to the moment it was read may be written again within
 * its timestamp's granularity (a clock tick; a second or two on some file systems), and
 * then keeps its size and mtime with other content. Its digest is not remembered, so the
 * next build reads it again, as git treats such "racily clean" index entries.
 */
const RACY_NS = 2_000_000_000n;

/** Entries beyond this are dropped on save (least recently used first). */
const MAX_ENTRIES = 200_000;

/**
 * Content digests of build-context files, remembered across builds by (path, size,
 * mtime, ctime, inode), as git's index does: a rebuild where nothing changed reads no
 * file content, however large the context. A file whose stat differs is hashed again;
 * ctime catches new content written under an old mtime (cp -p, touch -d), and files
 * modified just before they were read are never trusted (RACY_NS).
 */
export class FileHashes {
  private changed = false;

  private constructor(
    private readonly file: string | undefined,
    /** Path -> "STAMP DIGEST": one string per file, which a 10,000-file context loads and compares quickly. */
    private readonly entries: Map<string, string>,
    private readonly transient: (abs: string) => boolean,
  ) {}

  /**
   * Hashes kept in `file` (a missing or damaged file just means starting afresh).
   * Files for which `transient` is true (a build's own scratch files) are hashed but
   * not remembered.
   */
  static async load(file: string, transient: (abs: string) => boolean = () => false): Promise<FileHashes> {
    const entries = new Map<string, string>();
    try {
      const saved = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
      // Entries of another shape (an older tbuild's) are dropped: their files are hashed once more.
      for (const abs in saved) if (typeof saved[abs] === "string") entries.set(abs, saved[abs]);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT" && !(e instanceof SyntaxError)) throw e;
    }
    return new FileHashes(file, entries, transient);
  }

  /**
   * The file's content digest: the remembered one, synchronously, when its stat is
   * unchanged (a no-change build asks for thousands), else read.
   */
  digest(abs: string, st: BigIntStats): string | Promise<string> {
    const known = this.entries.get(abs);
    const stamp = stampOf(st);
    if (known !== undefined && known.length === stamp.length + 65 && known.startsWith(stamp)) {
      // Re-insert so the map's order is least recently used first.
      this.entries.delete(abs);
      this.entries.set(abs, known);
      return known.slice(stamp.length + 1);
    }
    return this.read(abs, st, stamp);
  }

  private async read(abs: string, st: BigIntStats, stamp: string): Promise<string> {
    const readAt = BigInt(Date.now()) * 1_000_000n;
    const digest = await hashFile(abs, st.size);
    if (this.transient(abs)) return digest;
    this.changed ||= this.entries.delete(abs);
    if (st.mtimeNs > readAt - RACY_NS || st.ctimeNs > readAt - RACY_NS) return digest;
    this.entries.set(abs, `${stamp} ${digest}`);
    this.changed = true;
    return digest;
  }

  async save(): Promise<void> {
    if (this.file === undefined || !this.changed) return;
    const kept = [...this.entries].slice(-MAX_ENTRIES);
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeAtomic(this.file, JSON.stringify(Object.fromEntries(kept)));
    this.changed = false;
  }
}
