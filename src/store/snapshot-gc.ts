/**
 * Committed snapshots are a cache of unpacked layers: the builder re-creates any of them
 * from the layer blobs. Active snapshots and views belong to a running build, and so do
 * the committed snapshots under them and those a build's lease holds; those are never
 * candidates, until their process is gone.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { isTbuildError } from "../errors.js";
import { abandonedWork, openExistingSnapshotter, type Snapshotter, type SnapshotInfo } from "../snapshotter/snapshotter.js";
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
  return made ? openExistingSnapshotter(root) : undefined;
}

/**
 * What GC may take: committed snapshots no live lease holds and that are not the parent
 * of an active snapshot or view of a running process, plus the active snapshots and
 * views of processes that died (a killed build's working trees), which no longer pin
 * their parents.
 */
export function unusedSnapshots(all: SnapshotInfo[], leased: ReadonlySet<string> = new Set()): SnapshotInfo[] {
  const byKey = new Map(all.map((s) => [s.key, s]));
  const inUse = new Set<string>();
  const hold = (from: string | undefined): void => {
    for (let p = from; p !== undefined && !inUse.has(p); p = byKey.get(p)?.parent) inUse.add(p);
  };
  for (const s of all) {
    if (s.kind !== "committed" && !abandonedWork(s)) hold(s.parent);
    if (leased.has(s.key)) hold(s.key);
  }
  return all.filter((s) => (s.kind === "committed" && !inUse.has(s.key)) || abandonedWork(s));
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
 * snapshot on or leased since it was planned, or that another prune removed first, is
 * skipped: the snapshotter checks children and `leased` under its lock, so this never
 * takes a tree from under a build.
 */
export async function removeSnapshots(snapshotter: Snapshotter, planned: SnapshotUsage[], leased: () => Promise<ReadonlySet<string>>): Promise<SnapshotUsage[]> {
  const removed: SnapshotUsage[] = [];
  for (const s of planned) {
    try {
      await snapshotter.remove(s.key, { leased });
      removed.push(s);
    } catch (e) {
      if (!isTbuildError(e, "failed-precondition") && !isTbuildError(e, "not-found")) throw e;
    }
  }
  return removed;
}
