import { createHash } from "node:crypto";
import type { ContentStore } from "../content/content.js";
import type { Lease } from "../store/lease.js";
import { isTbuildError } from "../errors.js";
import type { LayerDescriptor } from "../oci/layer.js";
import type { Snapshotter } from "../snapshotter/snapshotter.js";

// The merged-tree reader belongs to the snapshotter (it knows whiteouts); steps use it from here.
export { MergedView } from "../snapshotter/merged-view.js";

export type Layer = LayerDescriptor;

/** OCI ChainIDs: the identity of a stack of layers, used to name committed snapshots. */
export function chainIds(diffIDs: readonly string[]): string[] {
  const ids: string[] = [];
  for (const diffID of diffIDs) {
    const prev = ids[ids.length - 1];
    ids.push(prev === undefined ? diffID : `sha256:${createHash("sha256").update(`${prev} ${diffID}`).digest("hex")}`);
  }
  return ids;
}

/**
 * Makes sure a committed snapshot exists for every prefix of `layers` (named by
 * ChainID), applying missing layers from the content store. Returns the top
 * snapshot's name, or undefined for no layers. Concurrent callers for the same chain
 * share the work.
 */
export class RootfsPreparer {
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly snapshotter: Snapshotter,
    private readonly content: ContentStore,
    private readonly lease: Lease,
  ) {}

  async ensure(layers: readonly Layer[]): Promise<string | undefined> {
    const chain = chainIds(layers.map((l) => l.diffID));
    // Leased before they are looked for: from here on prune leaves them (see store/lease.ts).
    await this.lease.holdSnapshots(chain);
    // Which of them exist, from one read of the snapshot metadata rather than one per layer
    // (a touch build's first RUN asks about every layer below it).
    if (chain.some((name) => !this.inflight.has(name))) {
      const committed = new Set((await this.snapshotter.walk()).filter((s) => s.kind === "committed").map((s) => s.key));
      for (const name of chain) if (committed.has(name) && !this.inflight.has(name)) this.inflight.set(name, Promise.resolve());
    }
    for (let i = 0; i < layers.length; i++) {
      const name = chain[i]!;
      let job = this.inflight.get(name);
      if (job === undefined) {
        job = this.unpack(name, i === 0 ? undefined : chain[i - 1], layers[i]!);
        this.inflight.set(name, job);
      }
      await job;
    }
    return chain[chain.length - 1];
  }

  private async unpack(name: string, parent: string | undefined, layer: Layer): Promise<void> {
    if (await this.exists(name)) return;
    try {
      await this.snapshotter.unpack(name, parent, this.content.openRead(layer.digest), { layer: layer.digest });
    } catch (e) {
      // Another process committed the same chain first: theirs is as good as ours.
      if (isTbuildError(e, "already-exists") && (await this.exists(name))) return;
      throw e;
    }
  }

  private async exists(name: string): Promise<boolean> {
    try {
      await this.snapshotter.stat(name);
      return true;
    } catch (e) {
      if (isTbuildError(e, "not-found")) return false;
      throw e;
    }
  }
}
