import { stat } from "node:fs/promises";
import type { BlobInfo } from "../cache/content-store.js";
import { isTbuildError } from "../errors.js";
import { isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import type { Descriptor } from "../oci/schemas.js";
import type { ImageStore } from "./image-store.js";

/**
 * Something besides index.json that keeps blobs alive (the build cache, an in-progress
 * build): it returns root descriptors, whose children are followed like image roots.
 */
export type GcRootProvider = (store: ImageStore) => Promise<Descriptor[]>;

export interface GcOptions {
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
  /** Keep up to this many bytes of unreferenced blobs, removing the oldest first. */
  keepStorage?: number;
  /** Extra roots beyond index.json. */
  roots?: GcRootProvider[];
}

export interface GcResult {
  removed: BlobInfo[];
  removedBytes: number;
  kept: number;
  ingest: { files: number; bytes: number };
}

/**
 * Garbage collection in three steps: roots (index.json plus providers) → the set of
 * blobs reachable from them → sweep of everything else. It holds the store lock
 * throughout, so no tag or putImage can land between marking and sweeping.
 */
export async function gc(store: ImageStore, opts: GcOptions = {}): Promise<GcResult> {
  return store.withLock(async () => {
    const roots = [...(await store.readIndex()).manifests];
    for (const provider of opts.roots ?? []) roots.push(...(await provider(store)));
    const reachable = await markReachable(store, roots);
    const unreferenced: (BlobInfo & { mtimeMs: number })[] = [];
    for await (const blob of store.content.list()) {
      if (reachable.has(blob.digest)) continue;
      const st = await stat(store.content.blobPath(blob.digest)).catch(() => undefined);
      if (st !== undefined) unreferenced.push({ ...blob, mtimeMs: st.mtimeMs });
    }
    unreferenced.sort((a, b) => a.mtimeMs - b.mtimeMs);
    let remaining = unreferenced.reduce((n, b) => n + b.size, 0);
    const removed: BlobInfo[] = [];
    for (const blob of unreferenced) {
      if (opts.keepStorage !== undefined && remaining <= opts.keepStorage) break;
      if (opts.dryRun !== true) await store.content.delete(blob.digest);
      removed.push({ digest: blob.digest, size: blob.size });
      remaining -= blob.size;
    }
    const ingest = opts.dryRun === true ? { files: 0, bytes: 0 } : await store.content.cleanIngest();
    return { removed, removedBytes: removed.reduce((n, b) => n + b.size, 0), kept: reachable.size, ingest };
  });
}

/**
 * Digests reachable from `roots`: manifests reach their config and layers (and subject),
 * indexes their manifests. Children of an index that were never pulled are skipped.
 */
export async function markReachable(store: ImageStore, roots: Descriptor[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [...roots];
  for (let d = queue.pop(); d !== undefined; d = queue.pop()) {
    if (seen.has(d.digest)) continue;
    if (!(await store.content.has(d.digest))) continue;
    seen.add(d.digest);
    if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) continue;
    try {
      const parsed = await store.readManifestOrIndex(d);
      if (parsed.kind === "index") queue.push(...parsed.index.manifests);
      else queue.push(parsed.manifest.config, ...parsed.manifest.layers);
      const subject = parsed.kind === "index" ? parsed.index.subject : parsed.manifest.subject;
      if (subject !== undefined) queue.push(subject);
    } catch (e) {
      // An unreadable manifest keeps only itself; GC must not fail the whole prune on it.
      if (!isTbuildError(e)) throw e;
    }
  }
  return seen;
}

/** Bytes used by blobs, split into reachable from index.json and not. */
export async function diskUsage(store: ImageStore): Promise<{ referenced: { count: number; bytes: number }; unreferenced: { count: number; bytes: number } }> {
  const reachable = await markReachable(store, (await store.readIndex()).manifests);
  const out = { referenced: { count: 0, bytes: 0 }, unreferenced: { count: 0, bytes: 0 } };
  for await (const blob of store.content.list()) {
    const bucket = reachable.has(blob.digest) ? out.referenced : out.unreferenced;
    bucket.count++;
    bucket.bytes += blob.size;
  }
  return out;
}
