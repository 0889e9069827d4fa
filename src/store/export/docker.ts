import type { Writable } from "node:stream";
import { TbuildError } from "../../errors.js";
import { Annotation, MediaType } from "../../oci/media-types.js";
import { familiarReference, normalizeName, parseReference } from "../../oci/reference.js";
import type { Descriptor } from "../../oci/schemas.js";
import { imageBlobs } from "../blobs.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";
import { writeTar } from "./tar-writer.js";
import type { Exporter, ExportOptions, ExportResult } from "./types.js";

/**
 * type=docker: a tar `docker load` accepts (manifest.json with Config, RepoTags, Layers),
 * laid out the way Docker 25+ saves: blobs under blobs/sha256/ plus index.json and
 * oci-layout, so the same file is also an OCI archive. One platform only, as in docker.
 */
export const dockerExporter: Exporter = {
  type: "docker",
  async export(store: ImageStore, image: ResolvedImage, opts: ExportOptions): Promise<ExportResult> {
    const descriptor = await writeDockerArchive(store, image, opts.name, opts.dest);
    return { descriptor, dest: opts.dest };
  },
};

/** Writes the `docker load` tar of `image` to a file, "-" (stdout) or a stream (the Engine API's /images/load). */
export async function writeDockerArchive(store: ImageStore, image: ResolvedImage, nameOption: string | undefined, dest: string | Writable): Promise<Descriptor> {
  const unsupported = image.manifest.layers.find((l) => l.mediaType === MediaType.ociLayerZstd);
  if (unsupported !== undefined) {
    throw new TbuildError("failed-precondition", `cannot save ${nameOption ?? image.name ?? image.descriptor.digest} for docker: layer ${unsupported.digest} is zstd-compressed, which docker load does not read`, {
      hint: "use --format oci, or rebuild with gzip layers",
    });
  }
  const blobs = await imageBlobs(store, image.manifestDescriptor);
  const name = nameOption ?? image.name;
  const full = name === undefined ? undefined : normalizeName(name);
  const path = (d: Descriptor): string => `blobs/sha256/${d.digest.slice(7)}`;
  const manifestJson = [
    {
      Config: path(image.manifest.config),
      RepoTags: full === undefined ? [] : [familiarReference(parseReference(full))],
      Layers: image.manifest.layers.map(path),
    },
  ];
  const root: Descriptor = { mediaType: image.manifestDescriptor.mediaType, digest: image.manifestDescriptor.digest, size: image.manifestDescriptor.size };
  const indexed = full === undefined ? root : { ...root, annotations: { [Annotation.refName]: full, [Annotation.containerdImageName]: full } };
  await writeTar(dest, async (t) => {
    await t.dir("blobs/");
    await t.dir("blobs/sha256/");
    for (const b of blobs) await t.stream(path(b), b.size, store.content.openRead(b.digest));
    await t.file("manifest.json", JSON.stringify(manifestJson));
    await t.file("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await t.file("index.json", JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [indexed] }));
  });
  return root;
}
