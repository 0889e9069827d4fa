/**
 * Leases, after containerd's: a process working on the store (a build, a pull, a load,
 * a push) holds a lease naming the blobs and snapshots it has touched or will reuse,
 * and garbage collection never takes what a live lease holds. A lease is the file
 * `<root>/leases/<pid>.<start>-<random>.json`; it expires with its owner (pid plus
 * process start time), so a killed build's lease is dropped by the next prune.
 *
 * Races with GC are closed by locks: blobs are added before a look at the store lock
 * (which GC holds from reading leases to deleting blobs; see holdBlobs), snapshots
 * under the snapshotter's metadata lock (which every snapshot removal holds while it
 * checks leases). After an add, the caller checks the thing still exists: if GC took
 * it just before, it is re-made (a snapshot) or counted as a cache miss (a layer).
 */
import { randomBytes } from "node:crypto";
import { lstatSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, ioError } from "../errors.js";
import { withFileLock } from "../file-lock.js";
import { ownerAlive, ownerTag, selfOwner, type Owner } from "../pid.js";
import type { Descriptor } from "../oci/schemas.js";

interface LeaseFile {
  owner: Owner;
  /** What holds it: "build", "pull", "load", "push". */
  purpose: string;
  /** Milliseconds since the epoch: blobs written since then are the lease's too (see gc.ts). */
  created: number;
  blobs: Descriptor[];
  snapshots: string[];
}

/** A lease older than this whose owner is on another host (we cannot see it) expires anyway. */
const FOREIGN_LEASE_MS = 24 * 3600 * 1000;

export function leasesDir(storeRoot: string): string {
  return join(storeRoot, "leases");
}

/** The store lock (index.json's); GC holds it while it marks and sweeps blobs. */
function storeLock(storeRoot: string): string {
  return join(storeRoot, "index.json.lock");
}

/** Whether someone holds the lock at `path` now. */
function lockHeld(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return false;
    throw ioError(e, `looking at the lock ${path}`);
  }
}

/** The snapshotter's metadata lock; every snapshot removal holds it. */
function snapshotLock(storeRoot: string): string {
  return join(storeRoot, "snapshotter", "metadata.lock");
}

export class Lease {
  private readonly blobs = new Map<string, Descriptor>();
  private readonly snapshots = new Set<string>();
  /** Adds from parallel stages are written one at a time, each with everything so far. */
  private queue: Promise<unknown> = Promise.resolve();
  private released = false;

  private constructor(
    private readonly storeRoot: string,
    private readonly file: string,
    private readonly purpose: string,
    private readonly created: number,
  ) {}

  static async open(storeRoot: string, purpose: string): Promise<Lease> {
    const dir = leasesDir(storeRoot);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw ioError(e, `creating ${dir}`);
    }
    const lease = new Lease(storeRoot, join(dir, `${ownerTag()}-${randomBytes(6).toString("hex")}.json`), purpose, Date.now());
    lease.save();
    return lease;
  }

  /**
   * Holds `blobs` (manifests and indexes hold what they name), then tells whether all of
   * them are still stored: false means GC took one first, and the caller must not use it.
   *
   * Called for every cached step, so it does not take the store lock: the lease is
   * written first, then the lock is looked at. Free, any GC takes it later and so reads
   * leases that hold these blobs; held, a GC may have read the leases before the write,
   * so we wait for it to end; a GC that ended before the look deleted what it deleted,
   * which the presence check after it sees.
   */
  async holdBlobs(blobs: readonly Pick<Descriptor, "mediaType" | "digest" | "size">[], present: (digest: string) => Promise<boolean>): Promise<boolean> {
    return this.serial(async () => {
      const fresh = blobs.filter((b) => !this.blobs.has(b.digest));
      for (const b of fresh) this.blobs.set(b.digest, { mediaType: b.mediaType, digest: b.digest, size: b.size });
      if (fresh.length > 0) this.save();
      const lock = storeLock(this.storeRoot);
      if (lockHeld(lock)) await withFileLock(lock, async () => undefined);
      for (const b of blobs) if (!(await present(b.digest))) return false;
      return true;
    });
  }

  /** Holds committed snapshots by name (and so their parents), whether or not they exist yet. */
  async holdSnapshots(names: readonly string[]): Promise<void> {
    const fresh = names.filter((n) => !this.snapshots.has(n));
    if (fresh.length === 0) return;
    await this.serial(async () => {
      await mkdir(join(this.storeRoot, "snapshotter"), { recursive: true });
      await withFileLock(snapshotLock(this.storeRoot), async () => {
        for (const n of fresh) this.snapshots.add(n);
        this.save();
      });
    });
  }

  /** Ends the lease: what it held is GC's again (unless something else holds it). */
  async release(): Promise<void> {
    this.released = true;
    await this.queue.catch(() => undefined);
    await rm(this.file, { force: true });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Synchronous: a lease is a few KB, written once per cached step of a build. */
  private save(): void {
    if (this.released) return;
    const body: LeaseFile = { owner: selfOwner(), purpose: this.purpose, created: this.created, blobs: [...this.blobs.values()], snapshots: [...this.snapshots] };
    // No fsync: after a crash the lease's owner is dead, and so is the lease.
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(body));
      renameSync(tmp, this.file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw ioError(e, `writing the lease ${this.file}`);
    }
  }
}

/** What the live leases of a store hold. */
export interface LeaseHolds {
  /** Live leases (builds, pulls, loads, pushes in progress). */
  count: number;
  blobs: Descriptor[];
  snapshots: Set<string>;
  /** When the oldest live lease was taken: blobs written since may belong to it. */
  since: number | undefined;
}

/**
 * Reads the live leases, deleting those whose owner is dead (unless `dryRun`). Call
 * it under the lock that guards what it is used for (see the module comment).
 */
export async function liveLeases(storeRoot: string, o: { dryRun?: boolean } = {}): Promise<LeaseHolds> {
  const dir = leasesDir(storeRoot);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return { count: 0, blobs: [], snapshots: new Set(), since: undefined };
    throw ioError(e, `listing ${dir}`);
  }
  const out: LeaseHolds = { count: 0, blobs: [], snapshots: new Set(), since: undefined };
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith(".tmp")) {
      // A lease being rewritten; the owner's name comes first, as in the lease itself.
      const owner = /^(\d+)\.(\d*)-/.exec(name);
      if (owner !== null && ownerAlive({ host: selfOwner().host, pid: Number(owner[1]), start: owner[2]! }) === false && o.dryRun !== true) await rm(path, { force: true });
      continue;
    }
    if (!name.endsWith(".json")) continue;
    let lease: LeaseFile;
    try {
      lease = JSON.parse(await readFile(path, "utf8")) as LeaseFile;
    } catch (e) {
      if (errnoCode(e) === "ENOENT") continue; // released meanwhile
      // Unreadable: its writer died mid-write (writes are renamed into place, so only by hand).
      if (o.dryRun !== true) await rm(path, { force: true });
      continue;
    }
    const alive = ownerAlive(lease.owner);
    if (alive === false || (alive === undefined && Date.now() - lease.created > FOREIGN_LEASE_MS)) {
      if (o.dryRun !== true) await rm(path, { force: true });
      continue;
    }
    out.count++;
    out.blobs.push(...lease.blobs);
    for (const s of lease.snapshots) out.snapshots.add(s);
    out.since = Math.min(out.since ?? lease.created, lease.created);
  }
  return out;
}
