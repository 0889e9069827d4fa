/** `tbuild du`: what the store holds and what `tbuild prune` (or `prune --all`) would free. */
import { StepCache } from "../cache/step-cache.js";
import { diskUsage, markReachable } from "../store/gc.js";
import { buildCacheRoots } from "./gc-roots.js";
import type { ImageStore } from "../store/image-store.js";
import { liveLeases } from "../store/lease.js";
import { measure, storeSnapshotter, unusedSnapshots } from "../store/snapshot-gc.js";
import { hasBlob } from "../content/blob-io.js";

export interface Tally {
  count: number;
  bytes: number;
}

export interface StoreUsage {
  /** Referenced: reachable from a tagged image or a build-cache record. */
  blobs: { referenced: Tally; unreferenced: Tally };
  /** All snapshots, and those no running process uses (prune removes those). */
  snapshots: Tally & { reclaimable: Tally };
  /**
   * Records, and the distinct stored layers they name (counted among the blobs too);
   * `reclaimableBytes` is what `prune --all` frees: those layers no image uses.
   */
  buildCache: { records: number; layers: Tally; reclaimableBytes: number };
}

export async function storeUsage(store: ImageStore): Promise<StoreUsage> {
  const blobs = await diskUsage(store, [buildCacheRoots()]);

  const records = await new StepCache(store.root).records();
  const byImages = await markReachable(store, (await store.readIndex()).manifests);
  const layers = new Map<string, number>();
  for (const { record } of records) {
    if (record.layer !== null && (await hasBlob(store.content, record.layer.digest))) layers.set(record.layer.digest, record.layer.size);
  }
  let reclaimableBytes = 0;
  for (const [digest, size] of layers) if (!byImages.has(digest)) reclaimableBytes += size;
  const sum = (xs: Iterable<number>): number => [...xs].reduce((n, x) => n + x, 0);

  const snapshotter = await storeSnapshotter(store.root);
  const all = snapshotter === undefined ? [] : await snapshotter.walk();
  const sizes = snapshotter === undefined ? [] : await measure(snapshotter, all);
  const unused = new Set(unusedSnapshots(all, (await liveLeases(store.root, { dryRun: true })).snapshots).map((s) => s.key));
  const reclaimable = sizes.filter((s) => unused.has(s.key));

  return {
    blobs,
    snapshots: { count: sizes.length, bytes: sum(sizes.map((s) => s.size)), reclaimable: { count: reclaimable.length, bytes: sum(reclaimable.map((s) => s.size)) } },
    buildCache: { records: records.length, layers: { count: layers.size, bytes: sum(layers.values()) }, reclaimableBytes },
  };
}
