import { TbuildError } from "../errors.js";
import { isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import type { Descriptor } from "../oci/schemas.js";
import type { ImageStore } from "./image-store.js";
import { hasBlob } from "../content/blob-io.js";

/**
 * Every blob an image needs, children before parents (layers and config, then manifest,
 * then index), so copying in this order never publishes a manifest before its content.
 * Throws not-found naming the first missing blob.
 */
export async function imageBlobs(store: ImageStore, root: Descriptor): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  async function visit(d: Descriptor): Promise<void> {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!(await hasBlob(store.content, d.digest))) {
      throw new TbuildError("not-found", `blob ${d.digest} (${d.mediaType}) is missing from ${store.root}`, {
        hint: "the image is incomplete (a platform that was never pulled?); pull it again or export a single platform",
      });
    }
    const parsed = isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType) ? await store.readManifestOrIndex(d) : undefined;
    if (parsed?.kind === "index") for (const m of parsed.index.manifests) await visit(m);
    if (parsed?.kind === "manifest") for (const c of [parsed.manifest.config, ...parsed.manifest.layers]) await visit(c);
    out.push(d);
  }
  await visit(root);
  return out;
}
