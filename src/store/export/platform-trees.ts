import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { formatPlatform } from "../../oci/platform.js";
import type { Descriptor } from "../../oci/schemas.js";
import { applyIsolated } from "../../snapshotter/worker-client.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";

/**
 * The root filesystems a flattening export writes: the image's own, or, for a
 * multi-platform image asked to be split (a multi-platform build's `-o type=local|tar`),
 * one per platform under `os_arch[_variant]/`, as BuildKit lays them out.
 */
async function platformTrees(store: ImageStore, image: ResolvedImage, split: boolean): Promise<{ dir: string; layers: Descriptor[] }[]> {
  const children = image.index?.manifests.filter((m) => m.platform !== undefined) ?? [];
  if (!split || children.length < 2) return [{ dir: "", layers: image.manifest.layers }];
  const out = [];
  for (const child of children) {
    const resolved = await store.resolve(image.descriptor.digest, { platform: child.platform! });
    out.push({ dir: formatPlatform(child.platform!).replaceAll("/", "_"), layers: resolved.manifest.layers });
  }
  return out;
}

/**
 * Applies each tree's layers in order into `staging` (OCI whiteouts remove what an earlier
 * layer made), by the snapshotter's applier, which never writes outside its target.
 * Returns the applier's warnings.
 */
export async function unpackPlatformTrees(store: ImageStore, image: ResolvedImage, split: boolean, staging: string): Promise<string[]> {
  const warnings: string[] = [];
  for (const tree of await platformTrees(store, image, split)) {
    const dir = join(staging, tree.dir);
    await mkdir(dir, { recursive: true });
    for (const layer of tree.layers) {
      const applied = await applyIsolated(dir, store.content.openRead(layer.digest), { layer: layer.digest, whiteouts: "remove" });
      warnings.push(...applied.warnings);
    }
  }
  return warnings;
}
