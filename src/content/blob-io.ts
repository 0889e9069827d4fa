/**
 * Whole-blob helpers over the content interfaces (containerd's ReadBlob / WriteBlob):
 * written once here, so an implementation only provides the streaming primitives.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TbuildError, ioError } from "../errors.js";
import { digestOf } from "../oci/digest.js";
import type { BlobInfo, ContentInfo, ContentIngester, ContentReader } from "./content.js";

const DEFAULT_READ_LIMIT = 4 * 1024 * 1024;

export async function hasBlob(content: ContentInfo, digest: string): Promise<boolean> {
  return (await content.info(digest)) !== undefined;
}

/** Reads a small blob (manifest, config) whole, verifying its digest. */
export async function readBlob(content: ContentReader, digest: string, maxSize = DEFAULT_READ_LIMIT): Promise<Buffer> {
  const info = await content.info(digest);
  if (info === undefined) throw blobNotFound(digest, content.location);
  if (info.size > maxSize) {
    throw new TbuildError("failed-precondition", `blob ${digest} in ${content.location} is ${info.size} bytes, more than the ${maxSize} allowed for a manifest or config`, {
      hint: "stream large blobs with openRead instead",
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of content.openRead(digest)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (digestOf(bytes) !== digest) {
    throw new TbuildError("failed-precondition", `blob ${digest} in ${content.location} is corrupt: its content no longer matches its digest`, {
      hint: "remove it (tbuild prune cannot repair it) and pull or build the image again",
    });
  }
  return bytes;
}

/**
 * Stores bytes or a stream, verifying `expected` digest and size when given. On any
 * failure (the source's, a mismatch, a full disk) nothing is stored.
 */
export async function writeBlob(
  content: ContentIngester & ContentInfo,
  source: Uint8Array | string | Readable | AsyncIterable<Uint8Array>,
  expected?: Partial<BlobInfo>,
): Promise<BlobInfo> {
  const w = await content.writer(expected);
  try {
    if (typeof source === "string" || source instanceof Uint8Array) {
      const bytes = typeof source === "string" ? Buffer.from(source) : source;
      await new Promise<void>((resolve, reject) => w.write(bytes, (e) => (e ? reject(e) : resolve())));
    } else {
      await pipeline(source instanceof Readable ? source : Readable.from(source, { objectMode: false }), w);
    }
  } catch (e) {
    await w.abort();
    throw e instanceof TbuildError ? e : ioError(e, `writing a blob into ${content.location}`);
  }
  return w.commit(expected);
}

export function blobNotFound(digest: string, location: string): TbuildError {
  return new TbuildError("not-found", `blob ${digest} not found in ${location}`, {
    hint: "the image may be incomplete; pull or build it again",
  });
}
