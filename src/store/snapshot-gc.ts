/**
 * Committed snapshots are a cache of unpacked layers: the builder re-creates any of them
 * from the layer blobs. Active snapshots and views belong to a running build, and so do
 * the committed snapshots under them; those are never candidates.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { isTbuildError } from "../errors.js";
import { Snapshotter, type SnapshotInfo } from "../snapshotter/snapshotter.js";
import type { Reclaimable } from "./reclaim.js";

export interface SnapshotUsage {
  key: string;
  parent?: string;
  size: number;
  created: string;
}

/**
 * The builder's snapshotter (`<storeRoot>/snapshotter`, see builder/build.ts), or
 * undefined when no build has made one. Listing, measuring and removing do not depend on
 * the driver, so none is probed: a probe would mount overlay for nothing.
 */
export async function storeSnapshotter(storeRoot: string): Promise<Snapshotter | undefined> {
  const root = join(storeRoot, "snapshotter");
  const made = await access(join(root, "metadata.json")).then(() => true, () => false);
  return made ? new Snapshotter(root, "native") : undefined;
}

/** Committed snapshots that are not an active snapshot's or a view's ancestor. */
export function unusedCommitted(all: SnapshotInfo[]): SnapshotInfo[] {
  const byKey = new Map(all.map((s) => [s.key, s]));
  const inUse = new Set<string>();
  for (const s of all) {
    if (s.kind === "committed") continue;
    for (let p = s.parent; p !== undefined && !inUse.has(p); p = byKey.get(p)?.parent) inUse.add(p);
  }
  return all.filter((s) => s.kind === "committed" && !inUse.has(s.key));
}

/** Bytes of each snapshot's own directory (what removing it frees). */
export async function measure(snapshotter: Snapshotter, snapshots: SnapshotInfo[]): Promise<SnapshotUsage[]> {
  // One `du` for all of them (through the namespace helper when unprivileged).
  const sizes = await snapshotter.sizes(snapshots.map((s) => s.key));
  return snapshots.map((s) => ({ key: s.key, size: sizes.get(s.key) ?? 0, created: s.created, ...(s.parent === undefined ? {} : { parent: s.parent }) }));
}

export function snapshotCandidates(usages: SnapshotUsage[]): Reclaimable<SnapshotUsage>[] {
  return usages.map((u) => ({ id: `snapshot:${u.key}`, size: u.size, time: Date.parse(u.created), item: u, ...(u.parent === undefined ? {} : { parent: `snapshot:${u.parent}` }) }));
}

/**
 * Removes `planned` in order (children first). One that a build has just based a new
 * snapshot on, or that another prune removed first, is skipped: the snapshotter checks
 * children under its lock, so this never takes a tree from under a build.
 */
export async function removeSnapshots(snapshotter: Snapshotter, planned: SnapshotUsage[]): Promise<SnapshotUsage[]> {
  const removed: SnapshotUsage[] = [];
  for (const s of planned) {
    try {
      await snapshotter.remove(s.key);
      removed.push(s);
    } catch (e) {
      if (!isTbuildError(e, "failed-precondition") && !isTbuildError(e, "not-found")) throw e;
    }
  }
  return removed;
}
