import { randomBytes } from "node:crypto";
import { createReadStream, openSync } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Writable, type Readable } from "node:stream";
import { Digester, digestHex, isDigest, parseDigest } from "../oci/digest.js";
import { DiskFullError } from "../disk-full.js";
import { TbuildError, errnoCode, ioError } from "../errors.js";
import { pidAlive } from "../pid.js";
import { blobNotFound } from "./blob-io.js";
import type { BlobInfo, ByteRange, ContentStore, ContentWriter, StoredBlob } from "./content.js";

/**
 * The local content store: blobs in a directory.
 *
 * Committed blobs live at `<root>/blobs/sha256/<hex>`, so the root doubles as an OCI
 * image layout. Writers stream into a uniquely named file under `<root>/ingest/` while
 * hashing, verify the expected digest and size, fsync, then rename into place: the
 * ingest directory is on the same filesystem, so a blob is never visible half-written.
 * Several processes may write the same blob at once; whoever renames last replaces an
 * identical file, and anyone who finds the blob already present discards their copy.
 */
export class LocalContentStore implements ContentStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get location(): string {
    return this.root;
  }

  get blobsDir(): string {
    return join(this.root, "blobs", "sha256");
  }

  get ingestDir(): string {
    return join(this.root, "ingest");
  }

  /** Where a committed blob lives (whether or not it exists). */
  blobPath(digest: string): string {
    return join(this.blobsDir, digestHex(parseDigest(digest)));
  }

  async info(digest: string): Promise<StoredBlob | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size, updatedAt: st.mtimeMs };
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw ioError(e, `reading blob ${digest} in ${this.root}`);
    }
  }

  openRead(digest: string, range?: ByteRange): Readable {
    const path = this.blobPath(digest);
    let fd: number;
    try {
      // Opened synchronously so a missing blob is reported here, not as a later stream error.
      fd = openSync(path, "r");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw blobNotFound(digest, this.root);
      throw ioError(e, `opening blob ${digest} in ${this.root}`);
    }
    return createReadStream(path, { fd, ...range });
  }

  async writer(expected?: Partial<BlobInfo>): Promise<ContentWriter> {
    if (expected?.digest !== undefined) parseDigest(expected.digest);
    await mkdir(this.ingestDir, { recursive: true });
    await mkdir(this.blobsDir, { recursive: true });
    // pid first so prune can tell an abandoned ingest (dead writer) from a live one.
    const tempPath = join(this.ingestDir, `${process.pid}-${randomBytes(8).toString("hex")}`);
    const fh = await open(tempPath, "wx", 0o644).catch((e: unknown) => {
      throw errnoCode(e) === "ENOSPC" ? new DiskFullError(this.root, expected?.size ?? 0, e) : ioError(e, `writing a blob into ${this.root}`);
    });
    return new BlobWriter(this, fh, tempPath, expected?.size);
  }

  /** Removes a blob; absent blobs are not an error. */
  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async *walk(): AsyncIterable<StoredBlob> {
    let names: string[];
    try {
      names = await readdir(this.blobsDir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw ioError(e, `listing blobs in ${this.root}`);
    }
    for (const name of names.sort()) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const info = await this.info(digest);
      if (info !== undefined) yield info;
    }
  }

  /**
   * Deletes ingest files left by writers that died: those whose pid is no longer running,
   * or older than `maxAgeMs` (pids are reused, and another host may share the directory).
   */
  async cleanIngest(maxAgeMs = 24 * 3600 * 1000): Promise<{ files: number; bytes: number }> {
    let names: string[];
    try {
      names = await readdir(this.ingestDir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return { files: 0, bytes: 0 };
      throw ioError(e, `listing ${this.ingestDir}`);
    }
    let files = 0;
    let bytes = 0;
    for (const name of names) {
      const path = join(this.ingestDir, name);
      const st = await stat(path).catch(() => undefined);
      if (st === undefined) continue;
      const pid = Number(name.split("-")[0]);
      const abandoned = !Number.isInteger(pid) || !pidAlive(pid) || Date.now() - st.mtimeMs > maxAgeMs;
      if (!abandoned) continue;
      await rm(path, { force: true, recursive: true });
      files++;
      bytes += st.size;
    }
    return { files, bytes };
  }
}

/** Streams bytes into one ingest file, hashing as it goes; see LocalContentStore.writer. */
class BlobWriter extends Writable implements ContentWriter {
  private readonly digester = new Digester();
  private done = false;

  constructor(
    private readonly store: LocalContentStore,
    private readonly fh: FileHandle,
    private readonly tempPath: string,
    private readonly sizeLimit: number | undefined,
  ) {
    super();
  }

  /** Bytes written so far. */
  get size(): number {
    return this.digester.size;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writeChunks([chunk], cb);
  }

  /** Chunks that queued while a write was under way go out in one writev, uncopied. */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.writeChunks(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  private writeChunks(chunks: Buffer[], cb: (e?: Error | null) => void): void {
    for (const chunk of chunks) this.digester.update(chunk);
    if (this.sizeLimit !== undefined && this.digester.size > this.sizeLimit) {
      cb(new TbuildError("failed-precondition", `blob is larger than the expected ${this.sizeLimit} bytes`, {
        hint: "the source sent more data than its descriptor declares; it may be corrupt or tampered with",
      }));
      return;
    }
    writeAll(this.fh, chunks).then(
      () => cb(),
      (e: unknown) => cb(errnoCode(e) === "ENOSPC" ? new DiskFullError(this.store.root, this.digester.size, e) : (e as Error)),
    );
  }

  /**
   * Verifies and publishes the blob. On a digest or size mismatch the temp file is
   * deleted and a failed-precondition error names expected and actual values.
   */
  async commit(expected?: Partial<BlobInfo>): Promise<BlobInfo> {
    if (this.done) throw new TbuildError("internal", "blob writer used after commit or abort");
    try {
      if (this.errored !== null) throw this.errored;
      if (!this.writableEnded) this.end();
      await new Promise<void>((resolve, reject) => {
        if (this.writableFinished) return resolve();
        this.once("finish", resolve);
        this.once("error", reject);
      });
      await this.fh.sync();
      await this.fh.close();
    } catch (e) {
      await this.abort();
      if (errnoCode(e) === "ENOSPC") throw new DiskFullError(this.store.root, this.digester.size, e);
      throw e instanceof TbuildError ? e : ioError(e, `writing ${this.tempPath}`);
    }
    this.done = true;
    const info: BlobInfo = { digest: this.digester.digest(), size: this.digester.size };
    const mismatch: string[] = [];
    if (expected?.digest !== undefined && expected.digest !== info.digest) mismatch.push(`digest ${info.digest}, expected ${expected.digest}`);
    if (expected?.size !== undefined && expected.size !== info.size) mismatch.push(`size ${info.size}, expected ${expected.size}`);
    if (mismatch.length > 0) {
      await rm(this.tempPath, { force: true });
      throw new TbuildError("failed-precondition", `content does not match its descriptor: got ${mismatch.join(", ")}`, {
        hint: "the data was corrupted or truncated in transit; fetch it again",
      });
    }
    const final = this.store.blobPath(info.digest);
    try {
      if ((await this.store.info(info.digest)) !== undefined) {
        await unlink(this.tempPath);
        // Written again now: garbage collection keeps blobs written since a live lease began (store/gc.ts).
        const now = new Date();
        await utimes(final, now, now).catch(() => undefined);
        return info;
      }
      await rename(this.tempPath, final);
      await syncDir(this.store.blobsDir);
    } catch (e) {
      await rm(this.tempPath, { force: true });
      throw ioError(e, `committing blob ${info.digest} in ${this.store.root}`);
    }
    return info;
  }

  /** Discards everything written; safe to call more than once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (!this.destroyed) this.destroy();
    await this.fh.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
  }
}

async function writeAll(fh: FileHandle, chunks: Buffer[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    let { bytesWritten } = rest.length === 1 ? await fh.write(rest[0]!) : await fh.writev(rest);
    // A short write: drop what went out, go on from the first byte that did not.
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
      bytesWritten -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (rest.length > 0 && bytesWritten > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
