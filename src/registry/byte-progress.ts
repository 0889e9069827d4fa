/**
 * Bytes of a blob while it moves, for progress views (bytes and speed): the registry
 * client streams as before; these only watch. Reports come at most every 200 ms per
 * blob, plus one as the blob starts, so a view gets movement without an event per chunk.
 */
import { Transform } from "node:stream";
import type { ContentInfo, ContentIngester, ContentReader, ContentWriter } from "../content/content.js";

const INTERVAL_MS = 200;

/** A blob's transfer so far; `bytes` may pass `size` after a retried upload re-read it. */
export interface BlobBytes {
  digest: string;
  bytes: number;
  size: number;
}

export type BytesListener = (e: BlobBytes) => void;

/** `content` for uploads, counting the bytes read of each blob (a retry from its start counts again from 0). */
export function reportingReader(content: ContentReader, sizes: ReadonlyMap<string, number>, onBytes: BytesListener): ContentReader {
  const read = new Map<string, number>();
  const last = new Map<string, number>();
  return {
    location: content.location,
    info: (digest) => content.info(digest),
    openRead(digest, range) {
      if ((range?.start ?? 0) === 0) read.set(digest, 0);
      const source = content.openRead(digest, range);
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          const bytes = (read.get(digest) ?? 0) + chunk.length;
          read.set(digest, bytes);
          const now = Date.now();
          if (now - (last.get(digest) ?? 0) >= INTERVAL_MS) {
            last.set(digest, now);
            onBytes({ digest, bytes, size: sizes.get(digest) ?? bytes });
          }
          done(null, chunk);
        },
      });
      source.on("error", (e) => counter.destroy(e));
      return source.pipe(counter);
    },
  };
}

/** Runs a download into `content` while reporting what its writer has taken so far. */
export async function ingestReporting<T>(content: ContentIngester & ContentInfo, blob: { digest: string; size: number }, onBytes: BytesListener, run: (c: ContentIngester & ContentInfo) => Promise<T>): Promise<T> {
  let writer: ContentWriter | undefined;
  const timer = setInterval(() => {
    if (writer !== undefined) onBytes({ digest: blob.digest, bytes: writer.size, size: blob.size });
  }, INTERVAL_MS).unref();
  try {
    return await run({
      location: content.location,
      info: (digest) => content.info(digest),
      writer: async (expected) => {
        writer = await content.writer(expected);
        onBytes({ digest: blob.digest, bytes: 0, size: blob.size });
        return writer;
      },
    });
  } finally {
    clearInterval(timer);
  }
}
