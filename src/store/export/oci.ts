import { Annotation, MediaType } from "../../oci/media-types.js";
import { normalizeName } from "../../oci/reference.js";
import type { Descriptor, Index } from "../../oci/schemas.js";
import { imageBlobs } from "../blobs.js";
import { openStore, type ImageStore, type ResolvedImage } from "../image-store.js";
import { writeTar } from "./tar-writer.js";
import type { Exporter, ExportOptions, ExportResult } from "./types.js";
import { hasBlob, writeBlob } from "../../content/blob-io.js";

/**
 * type=oci: an OCI image layout holding just this image, as a tar (`tbuild save`,
 * `skopeo inspect oci-archive:FILE`) or, with tar=false, merged into a layout directory.
 * The ref.name annotation is the full reference, as in the local store.
 */
export const ociExporter: Exporter = {
  type: "oci",
  async export(store: ImageStore, image: ResolvedImage, opts: ExportOptions): Promise<ExportResult> {
    const { root, blobs } = await exportRoot(store, image);
    const name = opts.name ?? image.name;
    const annotated = annotate(root, name);
    if (opts.tar === false) {
      const out = await openStore(opts.dest);
      for (const b of blobs) {
        if (!(await hasBlob(out.content, b.digest))) await writeBlob(out.content, store.content.openRead(b.digest), { digest: b.digest, size: b.size });
      }
      if (name !== undefined) await out.tag(root, name);
      else await out.updateIndex((index) => void index.manifests.push(root));
      return { descriptor: root, dest: opts.dest };
    }
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [annotated] };
    await writeTar(opts.dest, async (t) => {
      await t.file("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      await t.file("index.json", JSON.stringify(index));
      await t.dir("blobs/");
      await t.dir("blobs/sha256/");
      for (const b of blobs) await t.stream(`blobs/sha256/${b.digest.slice(7)}`, b.size, store.content.openRead(b.digest));
    });
    return { descriptor: root, dest: opts.dest };
  },
};

/**
 * What to export: the whole index when every platform is stored, else the one manifest
 * the image resolved to (an index with absent children is not a valid layout).
 */
export async function exportRoot(store: ImageStore, image: ResolvedImage): Promise<{ root: Descriptor; blobs: Descriptor[] }> {
  const strip = ({ annotations: _a, ...d }: Descriptor): Descriptor => d;
  if (image.index !== undefined) {
    const whole = await imageBlobs(store, image.descriptor).catch(() => undefined);
    if (whole !== undefined) return { root: strip(image.descriptor), blobs: whole };
  }
  return { root: strip(image.manifestDescriptor), blobs: await imageBlobs(store, image.manifestDescriptor) };
}

function annotate(d: Descriptor, name: string | undefined): Descriptor {
  if (name === undefined) return d;
  const full = normalizeName(name);
  return { ...d, annotations: { [Annotation.refName]: full, [Annotation.containerdImageName]: full } };
}
