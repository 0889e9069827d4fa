import type { BlobInfo } from "../content/content.js";
import { isTbuildError } from "../errors.js";
import { isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import type { Descriptor } from "../oci/schemas.js";
import type { Snapshotter } from "../snapshotter/snapshotter.js";
import type { ImageStore } from "./image-store.js";
import { planReclaim, type Reclaimable } from "./reclaim.js";
import { liveLeases } from "./lease.js";
import { measure, removeSnapshots, snapshotCandidates, unusedSnapshots, type SnapshotUsage } from "./snapshot-gc.js";
import { hasBlob } from "../content/blob-io.js";

/**
 * Something besides index.json that keeps blobs alive (the build cache, an in-progress
 * build): it returns root descriptors, whose children are followed like image roots.
 */
export type GcRootProvider = (store: ImageStore) => Promise<Descriptor[]>;

export interface GcOptions {
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
  /**
   * Keep up to this many bytes of what could be removed (unreferenced blobs and unused
   * snapshots together), removing the least recently made first.
   */
  keepStorage?: number;
  /** Extra roots beyond index.json. */
  roots?: GcRootProvider[];
  /** Also remove snapshots no running process uses (see snapshot-gc.ts). */
  snapshotter?: Snapshotter;
  /** Keep every blob made at or after this time (ms since the epoch): builds in progress may need them. */
  protectSince?: number;
}

export interface GcResult {
  /** Blobs removed, and their bytes. */
  removed: BlobInfo[];
  removedBytes: number;
  /** Snapshots removed, children before parents, and their bytes. */
  snapshots: SnapshotUsage[];
  snapshotBytes: number;
  kept: number;
  ingest: { files: number; bytes: number };
  /** Live leases (builds, pulls, loads, pushes in progress) whose blobs and snapshots were kept. */
  leases: number;
}

type Candidate = Reclaimable<{ blob: BlobInfo } | { snapshot: SnapshotUsage }>;

/**
 * Garbage collection in three steps: roots (index.json, providers, live leases) → the set
 * of blobs reachable from them → sweep of everything else. It holds the store lock while
 * marking and deleting blobs, so no tag, putImage or lease can land in between. Blobs
 * written since the oldest live lease was taken are kept: a build or pull in progress
 * may be about to name them. Snapshots are measured before and removed after the lock
 * (deleting a tree can take long, and a build's putImage must not time out waiting for
 * it); each removal checks the leases again under the snapshotter's lock.
 */
export async function gc(store: ImageStore, opts: GcOptions = {}): Promise<GcResult> {
  const snapshotter = opts.snapshotter;
  const leasedSnapshots = async (): Promise<ReadonlySet<string>> => (await liveLeases(store.root, { dryRun: true })).snapshots;
  const snapshots = snapshotter === undefined ? [] : await measure(snapshotter, unusedSnapshots(await snapshotter.walk(), await leasedSnapshots()));
  const { plan, kept, ingest, leases } = await store.withLock(async () => {
    const leases = await liveLeases(store.root, opts.dryRun === true ? { dryRun: true } : {});
    const roots = [...(await store.readIndex()).manifests, ...leases.blobs];
    for (const provider of opts.roots ?? []) roots.push(...(await provider(store)));
    const reachable = await markReachable(store, roots);
    const since = [opts.protectSince, leases.since].filter((t): t is number => t !== undefined);
    const protectSince = since.length === 0 ? undefined : Math.min(...since);
    const fresh = async (digest: string): Promise<number | undefined> => {
      const st = await store.content.info(digest);
      return st === undefined || (protectSince !== undefined && st.updatedAt >= protectSince) ? undefined : st.updatedAt;
    };
    const candidates: Candidate[] = snapshotCandidates(snapshots).map((c) => ({ ...c, item: { snapshot: c.item } }));
    for await (const blob of store.content.walk()) {
      if (reachable.has(blob.digest)) continue;
      const time = await fresh(blob.digest);
      if (time !== undefined) candidates.push({ id: blob.digest, size: blob.size, time, item: { blob } });
    }
    let plan = planReclaim(candidates, opts.keepStorage);
    if (opts.dryRun !== true) {
      const skipped = new Set<string>();
      for (const c of plan) {
        if (!("blob" in c.item)) continue;
        // A writer that found this blob already stored touched it (content/local.ts): it is in use again.
        if ((await fresh(c.item.blob.digest)) === undefined) skipped.add(c.id);
        else await store.content.delete(c.item.blob.digest);
      }
      plan = plan.filter((c) => !skipped.has(c.id));
    }
    const ingest = opts.dryRun === true ? { files: 0, bytes: 0 } : await store.content.cleanIngest();
    return { plan, kept: reachable.size, ingest, leases: leases.count };
  });
  const removed = plan.flatMap((c) => ("blob" in c.item ? [c.item.blob] : []));
  const planned = plan.flatMap((c) => ("snapshot" in c.item ? [c.item.snapshot] : []));
  const gone = snapshotter === undefined || opts.dryRun === true ? planned : await removeSnapshots(snapshotter, planned, leasedSnapshots);
  return {
    removed,
    removedBytes: removed.reduce((n, b) => n + b.size, 0),
    snapshots: gone,
    snapshotBytes: gone.reduce((n, s) => n + s.size, 0),
    kept,
    ingest,
    leases,
  };
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
    if (!(await hasBlob(store.content, d.digest))) continue;
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

/** Bytes used by blobs, split into reachable from index.json, live leases and `roots`, and not. */
export async function diskUsage(
  store: ImageStore,
  roots: GcRootProvider[] = [],
): Promise<{ referenced: { count: number; bytes: number }; unreferenced: { count: number; bytes: number } }> {
  const all = [...(await store.readIndex()).manifests, ...(await liveLeases(store.root, { dryRun: true })).blobs];
  for (const provider of roots) all.push(...(await provider(store)));
  const reachable = await markReachable(store, all);
  const out = { referenced: { count: 0, bytes: 0 }, unreferenced: { count: 0, bytes: 0 } };
  for await (const blob of store.content.walk()) {
    const bucket = reachable.has(blob.digest) ? out.referenced : out.unreferenced;
    bucket.count++;
    bucket.bytes += blob.size;
  }
  return out;
}
