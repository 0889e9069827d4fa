/**
 * `tbuild fsck`: checks the store against itself. Every blob against its digest; every
 * image in index.json against the blobs its manifests name; every build-cache record
 * against its layer; snapshot metadata against the directories; and what dead processes
 * left (partial downloads, scratch directories, leases, locks). With `repair`, what is
 * broken goes: corrupt blobs, images that lost a blob, records naming missing layers,
 * unlisted or unbacked snapshots, leftovers. Unreferenced blobs are not damage (prune
 * frees them) and are only counted.
 */
import { lstat, readdir, readlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { StepCache } from "../cache/step-cache.js";
import { isTbuildError } from "../errors.js";
import { Annotation, isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import { digestStream } from "../oci/digest.js";
import type { Descriptor } from "../oci/schemas.js";
import { ownerAlive, ownerFromTag } from "../pid.js";
import { removeOwnedTree } from "../userns/namespace.js";
import { markReachable } from "../store/gc.js";
import type { ImageStore } from "../store/image-store.js";
import { leasesDir, liveLeases } from "../store/lease.js";
import { storeSnapshotter } from "../store/snapshot-gc.js";
import { hasBlob } from "../content/blob-io.js";

export interface FsckProblem {
  kind: "corrupt-blob" | "broken-image" | "broken-cache-record" | "orphan-snapshot" | "leftover";
  /** What is wrong, for a person. */
  message: string;
  /** Whether `repair` fixed it (always false when not repairing). */
  repaired: boolean;
}

export interface FsckResult {
  problems: FsckProblem[];
  blobs: number;
  images: number;
  cacheRecords: number;
  snapshots: number;
  /** Blobs nothing references: not damage, `tbuild prune` frees them. */
  unreferenced: number;
}

export async function fsck(store: ImageStore, o: { repair?: boolean } = {}): Promise<FsckResult> {
  const repair = o.repair === true;
  const problems: FsckProblem[] = [];
  const note = (kind: FsckProblem["kind"], message: string): void => void problems.push({ kind, message, repaired: repair });

  // 1. Every blob against its digest.
  let blobs = 0;
  for await (const blob of store.content.walk()) {
    blobs++;
    const actual = await digestStream(store.content.openRead(blob.digest));
    if (actual.digest === blob.digest) continue;
    note("corrupt-blob", `blob ${blob.digest} is corrupt: its content hashes to ${actual.digest}`);
    if (repair) await store.content.delete(blob.digest);
  }

  // 2. Every image: the manifests it reaches and the config and layers they name.
  const index = await store.readIndex();
  const broken = new Set<string>();
  const entryId = (d: Descriptor): string => `${d.digest} ${d.annotations?.[Annotation.refName] ?? ""}`;
  for (const entry of index.manifests) {
    const missing = await missingUnder(store, entry);
    if (missing.length === 0) continue;
    broken.add(entryId(entry));
    note("broken-image", `image ${entry.annotations?.[Annotation.refName] ?? entry.digest} is incomplete: ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ` and ${missing.length - 3} more` : ""}`);
  }
  if (repair && broken.size > 0) await store.updateIndex((ix) => void (ix.manifests = ix.manifests.filter((m) => !broken.has(entryId(m)))));
  const images = index.manifests.length;

  // 3. Build-cache records against their layers.
  const cache = new StepCache(store.root);
  const records = await cache.records();
  for (const { key, record } of records) {
    if (record.layer === null || (await hasBlob(store.content, record.layer.digest))) continue;
    note("broken-cache-record", `build cache record ${key} names layer ${record.layer.digest}, which is not stored`);
    if (repair) await cache.delete(key);
  }

  // 4. Snapshots: metadata against directories (see Snapshotter.reclaimOrphans).
  const snapshotter = await storeSnapshotter(store.root);
  let snapshots = 0;
  if (snapshotter !== undefined) {
    snapshots = (await snapshotter.walk()).length;
    const orphans = await snapshotter.reclaimOrphans(repair ? {} : { dryRun: true });
    for (const path of orphans.paths) note("orphan-snapshot", `${path} is a snapshot directory no metadata lists, a broken one, or a half-made one of a dead process`);
  }

  // 5. What dead processes left: partial downloads, scratch directories, leases, locks.
  for (const path of await deadLeftovers(store.root)) {
    note("leftover", `${path} was left by a process that is gone`);
    if (repair) await removeOwnedTree(path);
  }
  const before = (await readdir(leasesDir(store.root)).catch(() => [] as string[])).length;
  const live = await liveLeases(store.root, repair ? {} : { dryRun: true });
  if (repair && before > live.count) note("leftover", `${before - live.count} lease(s) of processes that are gone`);

  const reachable = await markReachable(store, [...(await store.readIndex()).manifests, ...live.blobs, ...(await cache.layers()).map(({ mediaType, digest, size }) => ({ mediaType, digest, size }))]);
  let unreferenced = 0;
  for await (const blob of store.content.walk()) if (!reachable.has(blob.digest)) unreferenced++;
  return { problems, blobs, images, cacheRecords: records.length, snapshots, unreferenced };
}

/** What `entry` names that is not stored (or not readable); an index's unpulled platforms are fine. */
async function missingUnder(store: ImageStore, entry: Descriptor): Promise<string[]> {
  const missing: string[] = [];
  const visit = async (d: Descriptor, optional: boolean): Promise<void> => {
    if (!(await hasBlob(store.content, d.digest))) {
      if (!optional) missing.push(`${d.digest} is missing`);
      return;
    }
    if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) return;
    let parsed;
    try {
      parsed = await store.readManifestOrIndex(d);
    } catch (e) {
      if (!isTbuildError(e)) throw e;
      missing.push(`${d.digest} is unreadable (${e.message})`);
      return;
    }
    if (parsed.kind === "index") for (const m of parsed.index.manifests) await visit(m, true);
    else for (const b of [parsed.manifest.config, ...parsed.manifest.layers]) await visit(b, false);
  };
  await visit(entry, false);
  return missing;
}

/** Ingest files, `tmp/` entries and lock files whose owner is dead. */
async function deadLeftovers(root: string): Promise<string[]> {
  const out: string[] = [];
  const dead = (tag: string): boolean => {
    const who = ownerFromTag(tag);
    return who !== undefined && ownerAlive(who) === false;
  };
  for (const name of await readdir(join(root, "ingest")).catch(() => [] as string[])) {
    // Ingest files are named `<pid>-<random>` (no start time: the pid alone decides).
    const pid = /^(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && dead(`${pid}.`)) out.push(join(root, "ingest", name));
  }
  for (const name of await readdir(join(root, "tmp")).catch(() => [] as string[])) {
    const m = /^build-(.*)$/.exec(name);
    if (m !== null && dead(m[1]!)) out.push(join(root, "tmp", name));
  }
  for (const dir of [root, join(root, "snapshotter")]) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith(".lock")) continue;
      const path = join(dir, name);
      const st = await lstat(path).catch(() => undefined);
      if (st === undefined || !st.isSymbolicLink()) continue;
      const [host, pid, start] = (await readlink(path).catch(() => "")).split(" ");
      if (host === hostname() && pid !== undefined && ownerAlive({ host, pid: Number(pid), start: start === "-" || start === undefined ? "" : start }) === false) out.push(path);
    }
  }
  return out;
}
