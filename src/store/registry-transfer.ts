/**
 * Pull into and push from the local image store: the registry client works on content
 * interfaces and image descriptions (registry/pull.ts, push.ts); naming images, leasing
 * their blobs and remembering where blobs came from are the store's part, done here.
 */
import { hasBlob } from "../content/blob-io.js";
import { TbuildError } from "../errors.js";
import { formatReference, parseReference, type Reference } from "../oci/reference.js";
import type { Descriptor } from "../oci/schemas.js";
import { fetchImage, type FetchOptions, type PullResult } from "../registry/pull.js";
import { uploadImage, type PushOptions, type PushResult } from "../registry/push.js";
import { BlobSources } from "../registry/sources.js";
import type { ImageStore } from "./image-store.js";
import { Lease } from "./lease.js";

export interface PullOptions extends Omit<FetchOptions, "content" | "holdBlobs" | "sources"> {
  store: ImageStore;
  /** Record the image under its name in the store's index (default true). */
  tag?: boolean;
}

/** Pulls `ref` into the store and, unless `tag: false`, names it there. */
export async function pullImage(ref: string | Reference, o: PullOptions): Promise<PullResult> {
  const { store, tag, ...fetch } = o;
  const parsed = typeof ref === "string" ? parseReference(ref) : ref;
  // Blobs already stored are leased before the pull counts on them, so a prune cannot take them midway.
  const lease = await Lease.open(store.root, "pull");
  try {
    const pulled = await fetchImage(parsed, {
      ...fetch,
      content: store.content,
      holdBlobs: async (blobs) => void (await lease.holdBlobs(blobs, async () => true)),
      sources: new BlobSources(store.root),
    });
    if (tag !== false) await recordInStore(store, parsed, pulled.descriptor);
    return pulled;
  } finally {
    await lease.release();
  }
}

/** Tags by name; a pull by digest alone is kept as an untagged entry, as `docker pull name@sha256:…` does. */
async function recordInStore(store: ImageStore, ref: Reference, desc: Descriptor): Promise<void> {
  if (ref.tag !== undefined) {
    await store.tag(desc, formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag }));
    return;
  }
  await store.updateIndex((index) => {
    if (!index.manifests.some((m) => m.digest === desc.digest)) index.manifests.push(desc);
  });
}

/** Pushes the stored image `name` to `destRef` (default: `name` itself). */
export async function pushImage(store: ImageStore, name: string, destRef?: string, o: PushOptions = {}): Promise<PushResult> {
  const found = await store.find(name);
  // Leased (with all it names) for the whole push: a prune or rmi meanwhile cannot take a blob from under it.
  const lease = await Lease.open(store.root, "push");
  try {
    if (!(await lease.holdBlobs([found.descriptor], (d) => hasBlob(store.content, d)))) throw new TbuildError("not-found", `image '${name}' was removed from ${store.root} while the push began`);
    return await uploadImage(store.content, { descriptor: found.descriptor, name }, destRef ?? found.name ?? name, { ...o, sources: new BlobSources(store.root) });
  } finally {
    await lease.release();
  }
}
