/**
 * containerd-style snapshotter.
 *
 * Terms: a `key` names an active snapshot (writable, from `prepare`) or a view
 * (read-only, from `view`); a `name` names a committed snapshot (from `commit`). All
 * share one key space. Only committed snapshots can be parents, and a snapshot with
 * children cannot be removed. Nothing is mounted here: `prepare` and `view` return
 * mount descriptions for the caller (the RUN executor) to mount.
 *
 * Importing an image: for each layer, `prepare("extract-<diffID>", parent)`, then
 * `apply(key, blob)`, then `commit(chainID, key)`. Running a step: `prepare(step, top)`,
 * mount, run, then `diff(step, store)` gives the new layer and `commit` keeps the tree
 * as the next parent.
 *
 * Layout: `<root>/metadata.json`, `<root>/snapshots/<id>/{fs,work}`. New snapshot
 * directories are built under `<root>/tmp/` and renamed into place, so a crash never
 * leaves a half-made snapshot under `snapshots/`.
 *
 * Drivers (drivers/): what differs between overlay and native is a `SnapshotDriver`
 * chosen by name in the driver registry; everything here is the same for both.
 */
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { ContentInfo, ContentIngester } from "../content/content.js";
import { asDiskFull } from "../disk-full.js";
import { TbuildError } from "../errors.js";
import { ownerAlive, ownerFromTag, ownerTag, selfOwner } from "../pid.js";
import type { ApplyResult } from "./applier.js";
import type { Compression } from "./compression.js";
import type { LayerDescriptor } from "../oci/layer.js";
import { storeLayer } from "./differ.js";
import { chooseDriver, recordedDriver, snapshotDriver, type Driver, type Mount, type SnapshotDriver } from "./drivers/index.js";
import { MergedView } from "./merged-view.js";
import { Metadata, type MetadataFile, type SnapshotKind, type SnapshotRecord } from "./metadata.js";
import { removeOwnedTree } from "../userns/namespace.js";
import { applyIsolated, diffIsolated, measureTrees } from "./worker-client.js";

export type { SnapshotKind } from "./metadata.js";
export type { Driver, Mount } from "./drivers/index.js";

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
}

export interface DiffOptions {
  compression?: Compression;
  /** Clamp mtimes to this many seconds since the epoch. */
  sourceDateEpoch?: number;
}

export interface OpenOptions {
  root: string;
  /** "auto" (default) uses overlay when a probe mount succeeds here, else native. */
  driver?: Driver | "auto";
}

function notFound(key: string): TbuildError {
  return new TbuildError("not-found", `snapshot '${key}' does not exist`);
}

/**
 * containerd's Snapshotter, with the builder's extras: applying a layer into an active
 * snapshot, diffing one into content, and reading what mounts show without mounting them.
 */
export interface Snapshotter {
  readonly root: string;
  readonly driver: Driver;
  /** How a RUN's changes show up (see SnapshotDriver.tracking). */
  readonly tracking: SnapshotDriver["tracking"];
  stat(key: string): Promise<SnapshotInfo>;
  /** Every snapshot, by key. */
  walk(): Promise<SnapshotInfo[]>;
  prepare(key: string, parent?: string, o?: { labels?: Record<string, string> }): Promise<Mount[]>;
  view(key: string, parent?: string, o?: { labels?: Record<string, string> }): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  commit(name: string, key: string, o?: { labels?: Record<string, string> }): Promise<void>;
  remove(key: string, o?: { leased?: () => Promise<ReadonlySet<string>> }): Promise<void>;
  usage(key: string): Promise<{ size: number; inodes: number }>;
  sizes(keys: readonly string[]): Promise<Map<string, number>>;
  reclaimOrphans(o?: { dryRun?: boolean }): Promise<{ paths: string[]; bytes: number }>;
  apply(key: string, layer: Readable, o: { layer: string }): Promise<ApplyResult>;
  /**
   * prepare(parent) + apply(layer) + commit(name) in one: the tree is built aside and the
   * metadata written once, naming it committed only when it is whole.
   */
  unpack(name: string, parent: string | undefined, layer: Readable, o: { layer: string }): Promise<ApplyResult>;
  diffTar(key: string, o?: { sourceDateEpoch?: number }): Promise<Readable>;
  diff(key: string, store: ContentIngester & ContentInfo, o?: DiffOptions): Promise<LayerDescriptor>;
  /** The merged tree `mounts` (from prepare or view) show, read without mounting. */
  tree(mounts: readonly Mount[]): MergedView;
  /**
   * The tree of committed snapshot `name`, read-only, as a view of it shows it, with no view
   * recorded: the caller must keep `name` from being removed while it reads (a build's lease).
   */
  committedTree(name: string): Promise<MergedView>;
  /** The directory an active snapshot's `mounts` write into. */
  writableDir(mounts: readonly Mount[]): string;
}

/** The one Snapshotter implementation: metadata and trees under a root, a driver for the layout. */
export class LocalSnapshotter implements Snapshotter {
  private readonly meta: Metadata;
  private readonly impl: SnapshotDriver;

  constructor(
    readonly root: string,
    readonly driver: Driver,
  ) {
    this.meta = new Metadata(root);
    this.impl = snapshotDriver(driver);
  }

  get tracking(): SnapshotDriver["tracking"] {
    return this.impl.tracking;
  }

  tree(mounts: readonly Mount[]): MergedView {
    const { layers, writable } = this.impl.layersOf(mounts);
    return new MergedView(layers, new Set(writable === undefined ? [] : [writable]));
  }

  async committedTree(name: string): Promise<MergedView> {
    const m = await this.meta.read();
    const rec = m.snapshots[name];
    if (rec === undefined) throw notFound(name);
    if (rec.kind !== "committed") throw new TbuildError("failed-precondition", `snapshot '${name}' is ${rec.kind}, not committed`);
    // A view's own directories are never read when it has a parent: the parent's chain is the tree.
    const unused = join(this.root, "tmp", "unused");
    return this.tree(this.impl.mounts("view", { fs: unused, work: unused }, this.chain(m.snapshots, name).map((r) => this.fs(r.id))));
  }

  writableDir(mounts: readonly Mount[]): string {
    const { writable } = this.impl.layersOf(mounts);
    if (writable === undefined) throw new TbuildError("internal", "the snapshot is not writable");
    return writable;
  }

  private dir(id: string): string {
    return join(this.root, "snapshots", id);
  }

  private fs(id: string): string {
    return join(this.dir(id), "fs");
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const rec = (await this.meta.read()).snapshots[key];
    if (rec === undefined) throw notFound(key);
    return info(key, rec);
  }

  async walk(): Promise<SnapshotInfo[]> {
    const m = await this.meta.read();
    return Object.entries(m.snapshots)
      .map(([k, r]) => info(k, r))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  /** A writable snapshot on top of committed `parent`. */
  prepare(key: string, parent?: string, o: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    return this.create("active", key, parent, o.labels ?? {});
  }

  /** A read-only snapshot of committed `parent`. */
  view(key: string, parent?: string, o: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    return this.create("view", key, parent, o.labels ?? {});
  }

  /** The mounts of an active snapshot or view again. */
  async mounts(key: string): Promise<Mount[]> {
    const m = await this.meta.read();
    const rec = m.snapshots[key];
    if (rec === undefined) throw notFound(key);
    if (rec.kind === "committed") throw new TbuildError("failed-precondition", `snapshot '${key}' is committed; mount it through a view or prepare`);
    return this.mountsFor(rec, this.chain(m.snapshots, rec.parent));
  }

  /** Captures active snapshot `key` as committed `name`; `key` is gone afterwards. */
  async commit(name: string, key: string, o: { labels?: Record<string, string> } = {}): Promise<void> {
    const id = await this.meta.update((m) => {
      const rec = m.snapshots[key];
      if (rec === undefined) throw notFound(key);
      if (rec.kind !== "active") throw new TbuildError("failed-precondition", `snapshot '${key}' is ${rec.kind}; only active snapshots can be committed`);
      if (m.snapshots[name] !== undefined) throw new TbuildError("already-exists", `snapshot '${name}' already exists`);
      delete m.snapshots[key];
      const { [OWNER_LABEL]: _workOf, ...kept } = rec.labels;
      m.snapshots[name] = { ...rec, kind: "committed", created: new Date().toISOString(), labels: { ...kept, ...o.labels } };
      return rec.id;
    });
    // The overlay workdir is scratch space of a mount; a committed layer never needs it.
    await removeOwnedTree(join(this.dir(id), "work"));
  }

  /**
   * Removes a snapshot; refused while snapshots based on it exist, or (with `leased`, the
   * names live leases hold) while a lease holds it or a snapshot based on it. On a full disk its
   * tree is deleted under the lock before the metadata is saved (saving needs space).
   */
  async remove(key: string, o: { leased?: () => Promise<ReadonlySet<string>> } = {}): Promise<void> {
    let doomed: string | undefined;
    const id = await this.meta.update(async (m) => {
      const rec = m.snapshots[key];
      if (rec === undefined) throw notFound(key);
      // Checked under the metadata lock, which a lease holds while it adds snapshots (store/lease.ts).
      if (o.leased !== undefined && withAncestors(m.snapshots, await o.leased()).has(key)) {
        throw new TbuildError("failed-precondition", `snapshot '${key}' is held by a running build`);
      }
      const children = Object.entries(m.snapshots).filter(([, r]) => r.parent === key).map(([k]) => k).sort();
      if (children.length > 0) {
        throw new TbuildError("failed-precondition", `snapshot '${key}' cannot be removed: ${children.map((c) => `'${c}'`).join(", ")} ${children.length === 1 ? "is" : "are"} based on it`, {
          hint: "remove the snapshots based on it first",
        });
      }
      delete m.snapshots[key];
      doomed = rec.id;
      return rec.id;
    }, { freeSpace: async () => {
      if (doomed !== undefined) await removeOwnedTree(this.dir(doomed));
    } });
    await removeOwnedTree(this.dir(id));
  }

  /**
   * What a killed process or prune leaves here that no metadata accounts for: directories
   * under `snapshots/` no record names (placed, then the metadata was never saved), records
   * whose directory is gone (and those based on them), and `tmp/` entries of dead
   * processes. Removes them (unless `dryRun`) and returns their paths and bytes; the
   * records are dropped under the lock, the trees deleted after it.
   */
  async reclaimOrphans(o: { dryRun?: boolean } = {}): Promise<{ paths: string[]; bytes: number }> {
    const doomed: string[] = [];
    const scan = async (m: MetadataFile): Promise<void> => {
      const ids = new Set(Object.values(m.snapshots).map((r) => r.id));
      const dirs = await readdir(join(this.root, "snapshots")).catch(() => [] as string[]);
      const present = new Set(dirs);
      for (const d of dirs) if (!ids.has(d)) doomed.push(this.dir(d));
      // A record is broken when its directory is gone or its parent is broken or missing.
      const broken = new Set<string>();
      for (let grew = true; grew; ) {
        grew = false;
        for (const [k, r] of Object.entries(m.snapshots)) {
          if (broken.has(k)) continue;
          if (!present.has(r.id) || (r.parent !== undefined && (m.snapshots[r.parent] === undefined || broken.has(r.parent)))) {
            broken.add(k);
            grew = true;
          }
        }
      }
      for (const k of broken) {
        const r = m.snapshots[k]!;
        if (present.has(r.id)) doomed.push(this.dir(r.id));
        if (o.dryRun !== true) delete m.snapshots[k];
      }
    };
    if (o.dryRun === true) await scan(await this.meta.read());
    else await this.meta.update(scan);
    for (const name of await readdir(join(this.root, "tmp")).catch(() => [] as string[])) {
      const owner = /^(?:new|probe)-(.*)$/.exec(name);
      const who = owner === null ? undefined : ownerFromTag(owner[1]!);
      if (who !== undefined && ownerAlive(who) === false) doomed.push(join(this.root, "tmp", name));
    }
    let bytes = 0;
    if (doomed.length > 0) {
      bytes = (await measureTrees(doomed, { linksInEach: true })).reduce((sum, u) => sum + u.bytes, 0);
    }
    if (o.dryRun !== true) for (const path of doomed) await removeOwnedTree(path);
    return { paths: doomed.sort(), bytes };
  }

  /** Disk used by the snapshot's own directory (for overlay: its layer only). */
  async usage(key: string): Promise<{ size: number; inodes: number }> {
    const rec = (await this.meta.read()).snapshots[key];
    if (rec === undefined) throw notFound(key);
    const [used] = await measureTrees([this.fs(rec.id)]);
    return { size: used?.bytes ?? 0, inodes: used?.inodes ?? 0 };
  }

  /** Bytes used by each of `keys`, measured in one walk for all of them (prune and du ask about many). */
  async sizes(keys: readonly string[]): Promise<Map<string, number>> {
    const all = (await this.meta.read()).snapshots;
    const dirs = new Map<string, string>();
    for (const key of keys) {
      const rec = all[key];
      if (rec === undefined) throw notFound(key);
      dirs.set(this.fs(rec.id), key);
    }
    // A file hard-linked from several snapshots counts in each, as measuring them one by one did.
    const used = await measureTrees([...dirs.keys()], { linksInEach: true });
    return new Map([...dirs.values()].map((key, i) => [key, used[i]?.bytes ?? 0]));
  }

  /**
   * Extracts a layer blob (gzip, zstd or plain tar) into active snapshot `key`, safely
   * (see applier.ts). Returns the diffID and warnings about entries not reproducible here.
   */
  async apply(key: string, layer: Readable, o: { layer: string }): Promise<ApplyResult> {
    const m = await this.meta.read();
    const rec = this.activeRecord(m.snapshots, key);
    const tree = this.fs(rec.id);
    const lowers = this.impl.applyLowers(tree, this.chain(m.snapshots, rec.parent).map((r) => this.fs(r.id)));
    try {
      return await applyIsolated(tree, layer, { layer: o.layer, whiteouts: this.impl.whiteouts, lowers });
    } catch (e) {
      throw await asDiskFull(e, this.root, async () => (await this.sizes([key])).get(key) ?? 0);
    }
  }

  async unpack(name: string, parent: string | undefined, layer: Readable, o: { layer: string }): Promise<ApplyResult> {
    // One metadata write instead of prepare's and commit's (each a locked, fsynced rewrite of
    // the whole file): a RUN after a COPY unpacks the COPY's layer this way. A process killed
    // while applying leaves only its tmp/new-<owner>-* directory, which prune reclaims; no
    // record ever names a half-applied tree.
    let result: ApplyResult | undefined;
    await this.create("committed", name, parent, {}, async (tree, chain) => {
      const lowers = this.impl.applyLowers(tree, chain.map((r) => this.fs(r.id)));
      try {
        result = await applyIsolated(tree, layer, { layer: o.layer, whiteouts: this.impl.whiteouts, lowers });
      } catch (e) {
        throw await asDiskFull(e, this.root, async () => (await measureTrees([tree]))[0]?.bytes ?? 0);
      }
    });
    return result!;
  }

  /** The changes in active snapshot `key` against its parent, as a layer tar stream. */
  async diffTar(key: string, o: { sourceDateEpoch?: number } = {}): Promise<Readable> {
    const m = await this.meta.read();
    const rec = m.snapshots[key];
    if (rec === undefined) throw notFound(key);
    if (rec.kind !== "active") throw new TbuildError("failed-precondition", `snapshot '${key}' is ${rec.kind}; only an active snapshot has changes`);
    const lowers = this.chain(m.snapshots, rec.parent).map((r) => this.fs(r.id));
    return diffIsolated({ driver: this.driver, upper: this.fs(rec.id), lowers, ...(o.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: o.sourceDateEpoch }) });
  }

  /** The changes in active snapshot `key` as a compressed layer blob in `store`. */
  async diff(key: string, store: ContentIngester & ContentInfo, o: DiffOptions = {}): Promise<LayerDescriptor> {
    return storeLayer(await this.diffTar(key, o.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: o.sourceDateEpoch }), store, o.compression ?? "gzip");
  }

  private activeRecord(all: Record<string, SnapshotRecord>, key: string): SnapshotRecord {
    const rec = all[key];
    if (rec === undefined) throw notFound(key);
    if (rec.kind !== "active") throw new TbuildError("failed-precondition", `snapshot '${key}' is ${rec.kind}; layers can only be applied to an active snapshot`);
    return rec;
  }

  /** Committed ancestors, nearest first. */
  private chain(all: Record<string, SnapshotRecord>, parent: string | undefined): SnapshotRecord[] {
    const out: SnapshotRecord[] = [];
    for (let p = parent; p !== undefined; p = all[p]?.parent) {
      const r = all[p];
      if (r === undefined) throw new TbuildError("internal", `snapshot metadata names a missing parent '${p}'`);
      out.push(r);
    }
    return out;
  }

  /**
   * A new snapshot built under tmp/ and renamed into place with its record. "committed" is
   * for unpack: made as an active one, filled by `fill` outside the lock, then recorded as
   * committed with no owner (as commit leaves it) and no overlay workdir.
   */
  private async create(
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    given: Record<string, string>,
    fill?: (tree: string, chain: SnapshotRecord[]) => Promise<void>,
  ): Promise<Mount[]> {
    // Whose work it is: prune removes the active snapshots and views of processes that died.
    const me = selfOwner();
    const labels = kind === "committed" ? given : { ...given, [OWNER_LABEL]: `${me.host} ${me.pid} ${me.start}` };
    const made: SnapshotKind = kind === "committed" ? "active" : kind;
    // Only tbuild may reach into layer trees: a layer's setuid-root file or device node
    // must not become a host program or device for other users (containerd keeps 0700 too).
    for (const d of ["tmp", "snapshots"]) {
      await mkdir(join(this.root, d), { recursive: true, mode: 0o700 });
      await chmod(join(this.root, d), 0o700);
    }
    // The owner in the name lets prune reclaim it if this process is killed midway.
    const tmp = join(this.root, "tmp", `new-${ownerTag()}-${randomBytes(6).toString("hex")}`);
    const check = (m: MetadataFile): SnapshotRecord[] => {
      if (m.snapshots[key] !== undefined) throw new TbuildError("already-exists", `snapshot '${key}' already exists`);
      if (parent !== undefined) {
        const p = m.snapshots[parent];
        if (p === undefined) throw notFound(parent);
        if (p.kind !== "committed") throw new TbuildError("failed-precondition", `snapshot '${parent}' is ${p.kind}; only committed snapshots can be parents`);
      }
      return this.chain(m.snapshots, parent);
    };
    try {
      // The slow part (copying the parent) happens outside the lock; a parent is committed,
      // so it cannot change meanwhile, and the checks are repeated under the lock.
      const chain = check(await this.meta.read());
      await mkdir(tmp, { mode: 0o700 });
      await this.impl.create(made, { fs: join(tmp, "fs"), work: join(tmp, "work") }, chain.map((r) => this.fs(r.id)), `copying snapshot '${parent}'`).catch(async (e: unknown) => {
        throw parent === undefined ? e : await asDiskFull(e, this.root, async () => (await this.sizes([parent])).get(parent) ?? 0);
      });
      if (fill !== undefined) {
        await fill(join(tmp, "fs"), chain);
        // The overlay workdir is scratch space of a mount; a committed layer never needs it.
        // Never mounted here, it is still the empty directory this process made: no namespace needed.
        if (kind === "committed") await rm(join(tmp, "work"), { recursive: true, force: true });
      }
      let placed: string | undefined;
      try {
        return await this.meta.update(async (m) => {
          const chainNow = check(m);
          // A directory already at the next id was placed by a process that died before saving
          // the metadata (or could not, the disk being full): skip it, prune reclaims it.
          while (await exists(this.dir(String(m.nextId)))) m.nextId++;
          const rec: SnapshotRecord = { id: String(m.nextId++), kind, created: new Date().toISOString(), labels, ...(parent === undefined ? {} : { parent }) };
          await rename(tmp, this.dir(rec.id));
          placed = this.dir(rec.id);
          m.snapshots[key] = rec;
          return this.mountsFor(rec, chainNow);
        });
      } catch (e) {
        // Placed, but the metadata naming it was not saved: it must not stay behind unlisted.
        if (placed !== undefined) await removeOwnedTree(placed);
        throw e;
      }
    } catch (e) {
      await removeOwnedTree(tmp);
      throw e;
    }
  }

  private mountsFor(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[] {
    return this.impl.mounts(rec.kind, { fs: this.fs(rec.id), work: join(this.dir(rec.id), "work") }, chain.map((r) => this.fs(r.id)));
  }

}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** The label naming the process whose active snapshot or view it is ("host pid start"). */
export const OWNER_LABEL = "tbuild.owner";

/** Whether `s` is an active snapshot or view of a process that is gone (false when unknown). */
export function abandonedWork(s: SnapshotInfo): boolean {
  if (s.kind === "committed") return false;
  const [host, pid, start] = (s.labels[OWNER_LABEL] ?? "").split(" ");
  if (host === undefined || pid === undefined) return false;
  return ownerAlive({ host, pid: Number(pid), start: start ?? "" }) === false;
}

/** `names` (those that exist) with every ancestor of each. */
function withAncestors(all: Record<string, SnapshotRecord>, names: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const n of names) for (let p: string | undefined = n; p !== undefined && !out.has(p) && all[p] !== undefined; p = all[p]?.parent) out.add(p);
  return out;
}

function info(key: string, r: SnapshotRecord): SnapshotInfo {
  return { key, kind: r.kind, created: r.created, labels: r.labels, ...(r.parent === undefined ? {} : { parent: r.parent }) };
}

/** Opens a snapshotter at `root`, choosing the driver ("auto": overlay if it mounts here). */
export async function openSnapshotter(o: OpenOptions): Promise<Snapshotter> {
  await mkdir(o.root, { recursive: true, mode: 0o700 });
  // Unpacked image trees may hold setuid files: no other local user may reach them (this
  // also tightens roots made by older versions, 0755). The mounter (root, or the user's own
  // namespace) is the owner, so overlay still traverses it.
  await chmod(o.root, 0o700).catch(() => undefined);
  const { driver, recorded } = await chooseDriver(o.root, o.driver ?? "auto");
  if (!recorded) await writeFile(join(o.root, "driver"), driver + "\n");
  return new LocalSnapshotter(o.root, driver);
}

/**
 * The snapshotter already at `root`, with the driver recorded there (native when none
 * is): listing, measuring and removing need no probe, which would mount overlay for nothing.
 */
export async function openExistingSnapshotter(root: string): Promise<Snapshotter> {
  return new LocalSnapshotter(root, (await recordedDriver(root)) ?? "native");
}
