/**
 * The content seam, in containerd's spirit: small interfaces over blobs addressed by
 * digest. A caller asks only for what it uses (a reader to push, an ingester to pull, a
 * manager to collect garbage), so any store that passes test/content/conformance.ts can
 * stand behind the registry, the cache and the image store. Where blobs live on disk is
 * the implementation's business (content/local.ts).
 */
import type { Readable, Writable } from "node:stream";

/** A blob's identity: the sha256 digest of its bytes and their number. */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** A committed blob, with when it was last written (garbage collection spares recent ones). */
export interface StoredBlob extends BlobInfo {
  /** Milliseconds since the epoch. */
  updatedAt: number;
}

/** Bytes `start` to `end` of a blob, both inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ContentInfo {
  /** Where the blobs are, for messages. */
  readonly location: string;
  /** The blob's info, or undefined when it is not stored. */
  info(digest: string): Promise<StoredBlob | undefined>;
}

export interface ContentReader extends ContentInfo {
  /** Streams a committed blob (or a range of it); throws a not-found TbuildError at once if it is absent. */
  openRead(digest: string, range?: ByteRange): Readable;
}

/**
 * Bytes being written. Nothing is visible until `commit` has verified the digest and
 * size (those given to `writer` or to `commit`); `abort` discards everything written.
 */
export interface ContentWriter extends Writable {
  /** Bytes written so far. */
  readonly size: number;
  commit(expected?: Partial<BlobInfo>): Promise<BlobInfo>;
  abort(): Promise<void>;
}

export interface ContentIngester {
  /** `expected.size`, when given here, makes an oversized stream fail as soon as it overruns. */
  writer(expected?: Partial<BlobInfo>): Promise<ContentWriter>;
}

export interface ContentManager extends ContentInfo {
  /** Removes a blob; absent blobs are not an error. */
  delete(digest: string): Promise<void>;
  /** Every committed blob, in digest order. */
  walk(): AsyncIterable<StoredBlob>;
}

export interface ContentStore extends ContentReader, ContentIngester, ContentManager {}
