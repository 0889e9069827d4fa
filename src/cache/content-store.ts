import { randomBytes } from "node:crypto";
import { createReadStream, openSync } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Digester, digestHex, digestOf, isDigest, parseDigest } from "../oci/digest.js";
import { DiskFullError } from "../disk-full.js";
import { TbuildError, errnoCode, ioError } from "../errors.js";
import { pidAlive } from "../pid.js";

export interface BlobInfo {
  digest: string;
  size: number;
}

const DEFAULT_READ_LIMIT = 4 * 1024 * 1024;

/**
 * A containerd-style content-addressed blob store rooted at a directory.
 *
 * Committed blobs live at `<root>/blobs/sha256/<hex>`, so the root doubles as an OCI
 * image layout. Writers stream into a uniquely named file under `<root>/ingest/` while
 * hashing, verify the expected digest and size, fsync, then rename into place: the
 * ingest directory is on the same filesystem, so a blob is never visible half-written.
 * Several processes may write the same blob at once; whoever renames last replaces an
 * identical file, and anyone who finds the blob already present discards their copy.
 */
export class ContentStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
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

  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw ioError(e, `reading blob ${digest} in ${this.root}`);
    }
  }

  /** Streams a committed blob. Throws a not-found TbuildError at once if it is absent. */
  openRead(digest: string): NodeJS.ReadableStream & Readable {
    const path = this.blobPath(digest);
    let fd: number;
    try {
      // Opened synchronously so a missing blob is reported here, not as a later stream error.
      fd = openSync(path, "r");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw notFound(digest, this.root);
      throw ioError(e, `opening blob ${digest} in ${this.root}`);
    }
    return createReadStream(path, { fd });
  }

  /** Reads a small blob (manifest, config) whole, verifying its digest. */
  async readBytes(digest: string, maxSize = DEFAULT_READ_LIMIT): Promise<Buffer> {
    const info = await this.info(digest);
    if (info === undefined) throw notFound(digest, this.root);
    if (info.size > maxSize) {
      throw new TbuildError("failed-precondition", `blob ${digest} in ${this.root} is ${info.size} bytes, more than the ${maxSize} allowed for a manifest or config`, {
        hint: "stream large blobs with openRead instead",
      });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.openRead(digest)) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    if (digestOf(bytes) !== digest) {
      throw new TbuildError("failed-precondition", `blob ${digest} in ${this.root} is corrupt: its content no longer matches its digest`, {
        hint: "remove it (tbuild prune cannot repair it) and pull or build the image again",
      });
    }
    return bytes;
  }

  /** Stores a small in-memory blob. */
  async put(bytes: Uint8Array | string, expected?: Partial<BlobInfo>): Promise<BlobInfo> {
    const w = await this.writer(expected);
    try {
      await new Promise<void>((resolve, reject) => w.write(typeof bytes === "string" ? Buffer.from(bytes) : bytes, (e) => (e ? reject(e) : resolve())));
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w.commit(expected);
  }

  /** Streams `source` into the store, verifying `expected` digest and size when given. */
  async ingest(source: AsyncIterable<Uint8Array> | Readable, expected?: Partial<BlobInfo>): Promise<BlobInfo> {
    const w = await this.writer(expected);
    try {
      await pipeline(source instanceof Readable ? source : Readable.from(source, { objectMode: false }), w);
    } catch (e) {
      await w.abort();
      throw e instanceof TbuildError ? e : ioError(e, `writing a blob into ${this.root}`);
    }
    return w.commit(expected);
  }

  /**
   * A Writable for producers that push bytes (the layer differ). Call `commit()` when
   * done (it ends the stream if needed) or `abort()` on failure; `expected.size`, when
   * given here, makes an oversized stream fail as soon as it overruns.
   */
  async writer(expected?: Partial<BlobInfo>): Promise<BlobWriter> {
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

  async *list(): AsyncIterable<BlobInfo> {
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

/** Streams bytes into one ingest file, hashing as it goes; see ContentStore.writer. */
export class BlobWriter extends Writable {
  private readonly digester = new Digester();
  private done = false;

  constructor(
    private readonly store: ContentStore,
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
    this.digester.update(chunk);
    if (this.sizeLimit !== undefined && this.digester.size > this.sizeLimit) {
      cb(new TbuildError("failed-precondition", `blob is larger than the expected ${this.sizeLimit} bytes`, {
        hint: "the source sent more data than its descriptor declares; it may be corrupt or tampered with",
      }));
      return;
    }
    writeAll(this.fh, chunk).then(
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
      if (await this.store.has(info.digest)) {
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

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
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

function notFound(digest: string, root: string): TbuildError {
  return new TbuildError("not-found", `blob ${digest} not found in ${root}`, {
    hint: "the image may be incomplete; pull or build it again",
  });
}

