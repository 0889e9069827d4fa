/**
 * `tbuild prune`: the build cache's dangling records (or, with `all`, every record),
 * then blobs and snapshots nothing uses, then what dead processes left: scratch
 * directories, working snapshots, unlisted snapshot directories.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { StepCache } from "../cache/step-cache.js";
import { TreeDigests } from "../cache/tree-digests.js";
import { errnoCode } from "../errors.js";
import { ownerAlive, ownerFromTag, pidAlive } from "../pid.js";
import { removeOwnedTree } from "../userns/namespace.js";
import { measureTrees } from "../snapshotter/worker-client.js";
import { gc, type GcResult } from "../store/gc.js";
import { buildCacheRoots } from "./gc-roots.js";
import type { ImageStore } from "../store/image-store.js";
import { storeSnapshotter } from "../store/snapshot-gc.js";
import { hasBlob } from "../content/blob-io.js";

/**
 * A build's scratch directory is `<root>/tmp/build-<pid>.<start>-XXXXXX`: it is abandoned
 * when that process is gone. Anything else there counts as abandoned once untouched this long.
 */
const STALE_SCRATCH_MS = 24 * 3600 * 1000;

function abandoned(name: string, mtimeMs: number): boolean {
  const owner = /^build-(.*)$/.exec(name);
  const who = owner === null ? undefined : ownerFromTag(owner[1]!);
  if (who !== undefined) return ownerAlive(who) === false;
  return Date.now() - mtimeMs >= STALE_SCRATCH_MS;
}

export interface PruneOptions {
  /** Drop every build-cache record first, as `docker builder prune --all`. */
  all?: boolean;
  /** Keep up to this many bytes of removable blobs and snapshots (least recent go first). */
  keepStorage?: number;
  dryRun?: boolean;
}

export interface PruneResult extends GcResult {
  /** Keys of the build-cache records dropped. */
  cacheRecords: string[];
  /**
   * What dead processes left behind: scratch directories, snapshot directories no
   * metadata lists, half-made snapshots, and their bytes.
   */
  scratch: { paths: string[]; bytes: number };
}

export async function prune(store: ImageStore, opts: PruneOptions = {}): Promise<PruneResult> {
  const cache = new StepCache(store.root);
  const dropped = new Set<string>();
  for (const { key, record } of await cache.records()) {
    // A record whose layer blob is gone can only miss, so it goes even without --all.
    if (opts.all === true || (record.layer !== null && !(await hasBlob(store.content, record.layer.digest)))) dropped.add(key);
  }
  if (opts.dryRun !== true) for (const key of dropped) await cache.delete(key);
  if (opts.all === true && opts.dryRun !== true) await new TreeDigests(store.root).clear();
  const snapshotter = await storeSnapshotter(store.root);
  // Leftovers first: a dead build's working snapshots then no longer pin their parents.
  const orphans = snapshotter === undefined ? { paths: [], bytes: 0 } : await snapshotter.reclaimOrphans(opts.dryRun === true ? { dryRun: true } : {});
  const result = await gc(store, {
    // Read under the store lock (a build may add records meanwhile).
    roots: [buildCacheRoots(dropped)],
    ...(opts.keepStorage === undefined ? {} : { keepStorage: opts.keepStorage }),
    ...(opts.dryRun === undefined ? {} : { dryRun: opts.dryRun }),
    ...(snapshotter === undefined ? {} : { snapshotter }),
  });
  const scratch = await staleScratch(store.root, opts.dryRun === true);
  const temps = await staleAtomicTemps(store.root, opts.dryRun === true);
  return { ...result, cacheRecords: [...dropped].sort(), scratch: { paths: [...orphans.paths, ...scratch.paths, ...temps.paths], bytes: orphans.bytes + scratch.bytes + temps.bytes } };
}

/** Removes (or, in a dry run, lists) the `<root>/tmp/*` entries of builds that are gone. */
async function staleScratch(storeRoot: string, dryRun: boolean): Promise<{ paths: string[]; bytes: number }> {
  const dir = join(storeRoot, "tmp");
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return { paths: [], bytes: 0 };
    throw e;
  }
  const out = { paths: [] as string[], bytes: 0 };
  for (const name of names.sort()) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (st === undefined || !abandoned(name, st.mtimeMs)) continue;
    // RUN steps leave files owned by image users (subordinate ids): measure and delete inside the namespace.
    out.bytes += (await measureTrees([path]))[0]?.bytes ?? 0;
    if (!dryRun) await removeOwnedTree(path);
    out.paths.push(path);
  }
  return out;
}

/** The store's own metadata folders, where writeAtomic puts `NAME.<pid>-<hex>.tmp` before its rename. */
const ATOMIC_WRITE_DIRS = [".", "snapshotter", "cache", "cache/steps", "cache/tree-digests"];
const ATOMIC_TEMP = /\.(\d+)-[0-9a-f]{12}\.tmp$/;

/** Removes (or lists) writeAtomic's temp files of processes that are gone (killed between write and rename). */
async function staleAtomicTemps(storeRoot: string, dryRun: boolean): Promise<{ paths: string[]; bytes: number }> {
  const out = { paths: [] as string[], bytes: 0 };
  for (const sub of ATOMIC_WRITE_DIRS) {
    const dir = join(storeRoot, sub);
    for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
      const pid = ATOMIC_TEMP.exec(name)?.[1];
      if (pid === undefined || pidAlive(Number(pid))) continue;
      const path = join(dir, name);
      const st = await stat(path).catch(() => undefined);
      if (st === undefined || !st.isFile()) continue;
      if (!dryRun) await rm(path, { force: true });
      out.paths.push(path);
      out.bytes += st.size;
    }
  }
  return out;
}
