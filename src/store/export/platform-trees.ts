import { formatPlatform } from "../../oci/platform.js";
import type { Descriptor } from "../../oci/schemas.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";

/**
 * The root filesystems a flattening export writes: the image's own, or, for a
 * multi-platform image asked to be split (a multi-platform build's `-o type=local|tar`),
 * one per platform under `os_arch[_variant]/`, as BuildKit lays them out.
 */
export async function platformTrees(store: ImageStore, image: ResolvedImage, split: boolean): Promise<{ dir: string; layers: Descriptor[] }[]> {
  const children = image.index?.manifests.filter((m) => m.platform !== undefined) ?? [];
  if (!split || children.length < 2) return [{ dir: "", layers: image.manifest.layers }];
  const out = [];
  for (const child of children) {
    const resolved = await store.resolve(image.descriptor.digest, { platform: child.platform! });
    out.push({ dir: formatPlatform(child.platform!).replaceAll("/", "_"), layers: resolved.manifest.layers });
  }
  return out;
}
