/**
 * Cache mounts that travel (`--cache-to ...,cache-mounts=true`): the directory behind a
 * `RUN --mount=type=cache` id, exported as a layer next to the step records, and seeded
 * from an imported cache on a root that does not have that id yet.
 *
 * The exported tar is deterministic: entries sorted by name, every mtime clamped to 0,
 * owners as the build steps see them (image ids, also for rootless builds, whose worker
 * reads the tree inside the user namespace), the directory's own metadata left out
 * (the mount's mode/uid/gid options set it when the id is first used). So an unchanged
 * cache mount exports to the same blob, which the destination already has.
 */
import { createHash, randomBytes } from "node:crypto";
import { lstat, rename } from "node:fs/promises";
import path from "node:path";
import { errnoCode, TbuildError } from "../errors.js";
import { withFileLock } from "../file-lock.js";
import type { LayerDescriptor } from "../oci/layer.js";
import { storeLayer } from "../snapshotter/differ.js";
import { removeOwnedTree } from "../userns/namespace.js";
import { applyIsolated, diffIsolated } from "../snapshotter/worker-client.js";
import type { Lease } from "../store/lease.js";
import { importFailureIsMiss, type CacheBackend } from "./backend.js";
import { hasBlob } from "../content/blob-io.js";
import type { ContentStore } from "../content/content.js";

/** The directory holding a cache id's contents. Ids are hashed, never used as paths (CVE-2024-9675). */
export function cacheMountDir(storeRoot: string, id: string): string {
  return path.join(storeRoot, "cache", "mounts", createHash("sha256").update(id).digest("hex"));
}

/** The lock `sharing=locked|private` steps hold on a cache id; exports and seeding hold it too. */
export function cacheMountLock(dir: string): string {
  return `${dir}.lock`;
}

async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

/** The build's cache mount ids: which it names, seeding them from imports, exporting them. */
export class CacheMounts {
  /** Every cache id a RUN step of this build names, whether the step ran or hit. */
  private readonly named = new Set<string>();

  constructor(
    private readonly storeRoot: string,
    private readonly content: ContentStore,
    private readonly imports: readonly CacheBackend[],
    private readonly lease: Lease,
    private readonly warn: (message: string) => void,
  ) {}

  /** Notes that a RUN step of this build mounts cache `id`. */
  name(id: string): void {
    this.named.add(id);
  }

  /**
   * Before the first step on this root that mounts `id`: fills its directory from the
   * first import that exported it, verified against the layer's digest and diffID.
   * The tree is extracted beside the directory and renamed into place, so a step never
   * sees half a seed, and two builds seeding at once keep one. A blob that is missing or
   * damaged is a warning and an empty cache mount, never a failed build.
   */
  async seed(id: string, dir: string): Promise<boolean> {
    if (await exists(dir)) return false;
    for (const backend of this.imports) {
      const layer = backend.cacheMounts?.get(id);
      if (layer === undefined) continue;
      const tmp = `${dir}.seed-${process.pid}-${randomBytes(4).toString("hex")}`;
      try {
        await backend.ensureLayer(layer);
        if (!(await this.lease.holdBlobs([layer], (d) => hasBlob(this.content, d)))) throw new TbuildError("not-found", `layer ${layer.digest} was removed from the store while in use`);
        const applied = await applyIsolated(tmp, this.content.openRead(layer.digest), { layer: layer.digest, whiteouts: "remove" });
        if (applied.diffID !== layer.diffID) {
          throw new TbuildError("failed-precondition", `its layer ${layer.digest} unpacks to ${applied.diffID}, not the recorded ${layer.diffID}`);
        }
        await rename(tmp, dir).catch(async (e: unknown) => {
          // Another build seeded (or a step created) it meanwhile: theirs stands.
          if (errnoCode(e) !== "ENOTEMPTY" && errnoCode(e) !== "EEXIST") throw e;
          await removeOwnedTree(tmp);
        });
        return true;
      } catch (e) {
        await removeOwnedTree(tmp).catch(() => undefined);
        if (!importFailureIsMiss(e)) throw e;
        this.warn(`cache mount '${id}' not seeded from ${backend.description}: ${e.message}; the step starts with what the next cache has, or empty`);
      }
    }
    return false;
  }

  /**
   * The layers to export for the build's cache ids: each id this root has a directory
   * for, as a deterministic tar (under the id's lock, so no locked step writes to it
   * meanwhile); an id it never mounted (every step using it hit) keeps the contents an
   * import had, fetched and verified, so a fully cached build does not drop them.
   */
  async export(): Promise<Map<string, LayerDescriptor>> {
    const out = new Map<string, LayerDescriptor>();
    for (const id of [...this.named].sort()) {
      const dir = cacheMountDir(this.storeRoot, id);
      if (await exists(dir)) {
        const layer = await withFileLock(cacheMountLock(dir), () => storeLayer(diffIsolated({ driver: "native", upper: dir, sourceDateEpoch: 0 }), this.content, "gzip"), { timeoutMs: 3_600_000 });
        await this.lease.holdBlobs([layer], (d) => hasBlob(this.content, d));
        out.set(id, layer);
        continue;
      }
      const carried = await this.carried(id);
      if (carried !== undefined) out.set(id, carried);
    }
    return out;
  }

  private async carried(id: string): Promise<LayerDescriptor | undefined> {
    for (const backend of this.imports) {
      const layer = backend.cacheMounts?.get(id);
      if (layer === undefined) continue;
      try {
        await backend.ensureLayer(layer);
        if (await this.lease.holdBlobs([layer], (d) => hasBlob(this.content, d))) return layer;
      } catch (e) {
        if (!importFailureIsMiss(e)) throw e;
        this.warn(`cache mount '${id}' from ${backend.description} is not exported again: ${e.message}`);
      }
    }
    return undefined;
  }
}

