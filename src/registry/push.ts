import pLimit from "p-limit";
import { TbuildError } from "../errors.js";
import { isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import { parseJson } from "../oci/parse-json.js";
import { formatReference, parseReference } from "../oci/reference.js";
import { indexSchema, manifestSchema, type Descriptor } from "../oci/schemas.js";
import { hasBlob, readBlob } from "../content/blob-io.js";
import type { ContentReader } from "../content/content.js";
import { reportingReader, type BytesListener } from "./byte-progress.js";
import { RepositoryClient, type PushOutcome, type UploadOptions } from "./client.js";
import type { BlobSources } from "./sources.js";
import { RegistrySession, type RegistryOptions } from "./transport.js";

export type PushEvent =
  | { kind: "blob"; digest: string; size: number; outcome: PushOutcome }
  | { kind: "manifest"; digest: string; reference: string };

export interface PushOptions extends RegistryOptions, Omit<UploadOptions, "mountFrom"> {
  /** Parallel blob uploads (default 4). */
  concurrency?: number;
  /** Reuse transports and tokens across calls. */
  session?: RegistrySession;
  onProgress?: (e: PushEvent) => void;
  /** Bytes of each blob while it uploads (bytes and speed in progress views). */
  onBytes?: BytesListener;
}

export interface PushImageOptions extends PushOptions {
  /** Which repositories hold which blobs: tried as mount sources, and updated after the push. */
  sources?: BlobSources;
}

/** The image to push: its top manifest or index, and the name it is known by (for messages). */
export interface PushSource {
  descriptor: Descriptor;
  name: string;
}

export interface PushResult {
  /** The fully qualified reference pushed to. */
  reference: string;
  /** Digest of the top manifest or index, as the registry now serves it. */
  digest: string;
  mediaType: string;
}

interface LocalManifest {
  desc: Descriptor;
  bytes: Buffer;
  blobs: Descriptor[];
}

/**
 * Pushes the image `image.descriptor` names, read from `content`, to `destRef`. Order
 * follows the distribution spec's constraints: every blob, then each platform manifest by
 * digest, then the top manifest or index under the tag. Blobs go up in parallel, once per
 * digest, each skipped if present or mounted from a repository known to hold it.
 */
export async function uploadImage(content: ContentReader, image: PushSource, destRef: string, o: PushImageOptions = {}): Promise<PushResult> {
  const { name } = image;
  const dest = parseReference(destRef);
  const reference = formatReference(dest);
  const topBytes = await readBlob(content, image.descriptor.digest);
  const topType = mediaTypeOf(topBytes, image.descriptor.mediaType);
  if (dest.digest !== undefined && dest.digest !== image.descriptor.digest) {
    throw new TbuildError("invalid-argument", `cannot push ${name} as ${reference}: its digest is ${image.descriptor.digest}`);
  }

  const manifests: LocalManifest[] = [];
  const readManifest = async (desc: Descriptor, bytes: Buffer): Promise<LocalManifest> => {
    const m = parseJson(manifestSchema, bytes, `manifest ${desc.digest} of ${name}`);
    return { desc, bytes, blobs: [m.config, ...m.layers] };
  };
  if (isIndexMediaType(topType)) {
    const index = parseJson(indexSchema, topBytes, `image index of ${name}`);
    const missing = [];
    for (const child of index.manifests) {
      if (!isManifestMediaType(child.mediaType)) throw new TbuildError("not-implemented", `${name}: nested index ${child.digest} cannot be pushed yet`);
      if (!(await hasBlob(content, child.digest))) missing.push(child);
      else manifests.push(await readManifest(child, await readBlob(content, child.digest)));
    }
    if (missing.length > 0) {
      throw new TbuildError("failed-precondition", `${name} is a multi-platform image but ${missing.length} of its ${index.manifests.length} platform manifests are not stored locally`, {
        hint: "pull it with --all-platforms first, or push one platform: tbuild pull --platform P, then tag and push that",
      });
    }
  } else if (isManifestMediaType(topType)) {
    manifests.push(await readManifest(image.descriptor, topBytes));
  } else {
    throw new TbuildError("failed-precondition", `${name}: cannot push a ${topType}`);
  }

  const session = o.session ?? new RegistrySession(o);
  const client = new RepositoryClient(session.transport(dest.registry), dest.repository);
  const limit = pLimit(o.concurrency ?? 4);
  const uploads = new Map<string, Promise<void>>();
  const sizes = new Map(manifests.flatMap((m) => m.blobs.map((b) => [b.digest, b.size] as const)));
  const reader = o.onBytes === undefined ? content : reportingReader(content, sizes, o.onBytes);
  for (const m of manifests) {
    for (const blob of m.blobs) {
      if (uploads.has(blob.digest)) continue;
      const info = await content.info(blob.digest);
      if (info === undefined) {
        throw new TbuildError("not-found", `${name}: blob ${blob.digest} is not in the store ${content.location}`, { hint: "pull or build the image again" });
      }
      uploads.set(
        blob.digest,
        limit(async () => {
          const mountFrom = (await o.sources?.repositories(blob.digest, dest.registry)) ?? [];
          const outcome = await client.pushBlob(reader, info, { ...o, mountFrom });
          o.onProgress?.({ kind: "blob", digest: blob.digest, size: info.size, outcome });
        }),
      );
    }
  }
  await Promise.all(uploads.values());

  for (const m of manifests) {
    if (m.desc.digest === image.descriptor.digest) continue;
    await client.putManifest(m.desc.digest, m.bytes, mediaTypeOf(m.bytes, m.desc.mediaType));
    o.onProgress?.({ kind: "manifest", digest: m.desc.digest, reference: `${dest.registry}/${dest.repository}@${m.desc.digest}` });
  }
  const topDigest = await client.putManifest(dest.tag ?? dest.digest ?? "latest", topBytes, topType);
  o.onProgress?.({ kind: "manifest", digest: topDigest, reference });
  await o.sources?.record([...uploads.keys(), ...manifests.map((m) => m.desc.digest), topDigest], dest.registry, dest.repository);
  return { reference, digest: topDigest, mediaType: topType };
}

/** The body's own mediaType wins over the descriptor's: it is what the registry will check. */
function mediaTypeOf(bytes: Buffer, fallback: string): string {
  try {
    const mt = (JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown }).mediaType;
    if (typeof mt === "string" && mt !== "") return mt;
  } catch {
    // Not JSON: the descriptor's type is all there is; the registry will judge it.
  }
  return fallback;
}
