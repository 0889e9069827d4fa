/**
 * `tbuild prune`: the build cache's dangling records (or, with `all`, every record),
 * then blobs and snapshots nothing uses, then scratch directories of dead builds.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { StepCache } from "../cache/step-cache.js";
import { errnoCode } from "../errors.js";
import { nsRun, removeOwnedTree } from "../snapshotter/namespace.js";
import { gc, type GcResult } from "./gc.js";
import { buildCacheRoots } from "./gc-roots.js";
import type { ImageStore } from "./image-store.js";
import { storeSnapshotter } from "./snapshot-gc.js";
import { pidAlive } from "../pid.js";

/**
 * A build's scratch directory is `<root>/tmp/build-<pid>-<start ms>-XXXXXX`: it is abandoned when
 * that process is gone. Anything else there counts as abandoned once untouched this long.
 */
const STALE_SCRATCH_MS = 24 * 3600 * 1000;

function abandoned(name: string, mtimeMs: number): boolean {
  const owner = /^build-(\d+)-/.exec(name);
  if (owner !== null) return !pidAlive(Number(owner[1]));
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
  /** Scratch directories of dead builds, and their bytes. */
  scratch: { paths: string[]; bytes: number };
  /** Builds running during the prune (their recent blobs and all snapshots were kept). */
  runningBuilds: number;
}

export async function prune(store: ImageStore, opts: PruneOptions = {}): Promise<PruneResult> {
  const cache = new StepCache(store.root);
  const dropped = new Set<string>();
  for (const { key, record } of await cache.records()) {
    // A record whose layer blob is gone can only miss, so it goes even without --all.
    if (opts.all === true || (record.layer !== null && !(await store.content.has(record.layer.digest)))) dropped.add(key);
  }
  if (opts.dryRun !== true) for (const key of dropped) await cache.delete(key);
  // While builds run, what they may be about to use stays: blobs made since the first of
  // them started, and every snapshot (a build checks a snapshot, then stacks on it).
  const running = await runningBuilds(store.root);
  const snapshotter = running.length > 0 ? undefined : await storeSnapshotter(store.root);
  const result = await gc(store, {
    // Read under the store lock (a build may add records meanwhile).
    roots: [buildCacheRoots(dropped)],
    ...(opts.keepStorage === undefined ? {} : { keepStorage: opts.keepStorage }),
    ...(opts.dryRun === undefined ? {} : { dryRun: opts.dryRun }),
    ...(snapshotter === undefined ? {} : { snapshotter }),
    ...(running.length > 0 ? { protectSince: Math.min(...running.map((b) => b.startedMs)) } : {}),
  });
  return { ...result, cacheRecords: [...dropped].sort(), scratch: await staleScratch(store.root, opts.dryRun === true), runningBuilds: running.length };
}

/** Builds in progress on this root: `tmp/build-<pid>-<start ms>-XXXXXX` whose process lives. */
async function runningBuilds(storeRoot: string): Promise<{ pid: number; startedMs: number }[]> {
  const names = await readdir(join(storeRoot, "tmp")).catch(() => [] as string[]);
  return names.flatMap((name) => {
    const m = /^build-(\d+)-(\d+)-/.exec(name);
    return m !== null && pidAlive(Number(m[1])) ? [{ pid: Number(m[1]), startedMs: Number(m[2]) }] : [];
  });
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
    out.bytes += parseInt((await nsRun("du", ["-s", "-x", "-B1", path], `measuring ${path}`)).stdout, 10) || 0;
    if (!dryRun) await removeOwnedTree(path);
    out.paths.push(path);
  }
  return out;
}
