/**
 * Disk usage of trees, measured as `du -s -x` does (allocated blocks, every entry
 * counted as an inode, not crossing into other file systems), in this process instead
 * of with the du program. Snapshot trees hold files owned by image uids, so an
 * unprivileged caller runs this inside the namespace (worker-client.ts, measureTrees).
 */
import type { Stats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, ioError } from "../errors.js";

export interface DiskUsage {
  /** Allocated bytes (st_blocks x 512), as `du -B1`. */
  bytes: number;
  /** Entries, the root included, as `du --inodes`. */
  inodes: number;
}

export interface UsageOptions {
  /**
   * Count a file with several hard links under every path (`du -l`), so each tree's
   * figure is what it holds on its own. Otherwise it counts once across all the
   * trees of one call, as du counts it.
   */
  linksInEach?: boolean;
}

/** A tree that vanished (a snapshot removed meanwhile) measures zero. */
async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw ioError(e, `measuring ${path}`);
  }
}

/** The usage of each of `roots`, in the same order. */
export async function diskUsage(roots: readonly string[], o: UsageOptions = {}): Promise<DiskUsage[]> {
  const seen = new Set<string>();
  const results: DiskUsage[] = [];
  for (const root of roots) {
    const total: DiskUsage = { bytes: 0, inodes: 0 };
    const top = await lstatOrUndefined(root);
    if (top !== undefined) {
      const count = (st: Stats): void => {
        if (st.nlink > 1 && !st.isDirectory()) {
          const id = `${st.dev}:${st.ino}`;
          if (seen.has(id)) return;
          seen.add(id);
        }
        total.bytes += st.blocks * 512;
        total.inodes += 1;
      };
      count(top);
      const dirs = top.isDirectory() ? [root] : [];
      for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
        let names: string[];
        try {
          names = await readdir(dir);
        } catch (e) {
          if (errnoCode(e) === "ENOENT") continue;
          throw ioError(e, `measuring ${dir}`);
        }
        // One directory's entries at a time, in parallel: the walk's cost is the stat calls.
        const stats = await Promise.all(names.map((n) => lstatOrUndefined(join(dir, n))));
        stats.forEach((st, i) => {
          if (st === undefined || st.dev !== top.dev) return;
          count(st);
          if (st.isDirectory()) dirs.push(join(dir, names[i] as string));
        });
      }
    }
    results.push(total);
    if (o.linksInEach) seen.clear();
  }
  return results;
}
