import pLimit from "p-limit";
import { readBlob, writeBlob } from "../content/blob-io.js";
import type { ContentIngester, ContentReader } from "../content/content.js";
import { TbuildError } from "../errors.js";
import { isIndexMediaType, isManifestMediaType } from "../oci/media-types.js";
import { parseJson } from "../oci/parse-json.js";
import { formatReference, parseReference, type Reference } from "../oci/reference.js";
import { imageConfigSchema, indexSchema, manifestSchema, type Descriptor, type ImageConfig, type Index, type Manifest, type Platform } from "../oci/schemas.js";
import { ingestReporting, type BytesListener } from "./byte-progress.js";
import { RepositoryClient, type RawManifest } from "./client.js";
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectManifest } from "../oci/platform.js";
import type { BlobSources } from "./sources.js";
import { RegistrySession, type RegistryOptions } from "./transport.js";

export type PullEvent =
  | { kind: "manifest"; digest: string; mediaType: string }
  | { kind: "blob"; digest: string; size: number; outcome: "present" | "downloaded" };

export interface FetchOptions extends RegistryOptions {
  /** Where the blobs go (the local store's content, or any other ContentStore). */
  content: ContentIngester & ContentReader;
  /** Called with the blobs a manifest names before they are fetched (a lease, so a prune cannot take them midway). */
  holdBlobs?: (blobs: Descriptor[]) => Promise<void>;
  /** Records which repository each fetched blob came from (cross-repository mounts on push). */
  sources?: BlobSources;
  /** `linux/arm64` or a Platform; default: the host's. Used to pick from an index. */
  platform?: Platform | string;
  /** Pull every platform of an index, not only the chosen one. */
  allPlatforms?: boolean;
  /** Parallel blob downloads (default 4). */
  concurrency?: number;
  /** Reuse transports and tokens across calls. */
  session?: RegistrySession;
  onProgress?: (e: PullEvent) => void;
  /** Bytes of each blob while it downloads (bytes and speed in progress views). */
  onBytes?: BytesListener;
}

/** The image fetched: an image description (top descriptor, the chosen platform's manifest and config). */
export interface PullResult {
  /** The fully qualified reference pulled. */
  reference: string;
  /** What the name points at on the registry: the index for multi-platform images. */
  descriptor: Descriptor;
  /** The manifest for the chosen platform. */
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
}

/**
 * Fetches `ref` into `o.content`: resolves the tag, picks the platform from an index,
 * downloads config and layers in parallel (verified while streaming, skipping blobs
 * already present), then writes the manifests. Blobs are committed before the manifests
 * that name them, so the content never points at missing blobs. Naming the image is the
 * caller's (store/registry-transfer.ts tags it in the local store).
 */
export async function fetchImage(ref: string | Reference, o: FetchOptions): Promise<PullResult> {
  const parsed = typeof ref === "string" ? parseReference(ref) : ref;
  const explicitPlatform = o.platform !== undefined;
  const want = o.platform === undefined ? hostPlatform() : typeof o.platform === "string" ? parsePlatform(o.platform) : o.platform;
  const session = o.session ?? new RegistrySession(o);
  const client = new RepositoryClient(session.transport(parsed.registry), parsed.repository);
  const name = formatReference(parsed);
  const limit = pLimit(o.concurrency ?? 4);
  const content = o.content;

  const top = await client.getManifest(parsed.digest ?? parsed.tag ?? "latest");
  o.onProgress?.({ kind: "manifest", digest: top.digest, mediaType: top.mediaType });
  const topDesc: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  const fetched = new Set<string>();

  /** Downloads one image manifest's blobs, then stores the manifest itself. */
  const pullManifest = async (raw: RawManifest): Promise<{ manifest: Manifest; config: ImageConfig }> => {
    const manifest = parseJson(manifestSchema, raw.bytes, `manifest of ${name}`);
    const blobs = [manifest.config, ...manifest.layers];
    await o.holdBlobs?.(blobs);
    await Promise.all(
      blobs.map((b) =>
        limit(async () => {
          const onBytes = o.onBytes;
          const outcome = onBytes === undefined ? await client.fetchBlob(content, b) : await ingestReporting(content, b, onBytes, (c) => client.fetchBlob(c, b));
          fetched.add(b.digest);
          o.onProgress?.({ kind: "blob", digest: b.digest, size: b.size, outcome });
        }),
      ),
    );
    const config = parseJson(imageConfigSchema, await readBlob(content, manifest.config.digest), `image config of ${name}`);
    await writeBlob(content, raw.bytes, { digest: raw.digest });
    fetched.add(raw.digest);
    return { manifest, config };
  };

  let chosen: { digest: string; manifest: Manifest; config: ImageConfig };
  if (isIndexMediaType(top.mediaType)) {
    const index = parseJson(indexSchema, top.bytes, `image index of ${name}`);
    const pick = selectManifest(index.manifests, want);
    if (pick === undefined) throw noPlatform(name, index, want);
    const others = o.allPlatforms === true ? index.manifests.filter((m) => m !== pick && m.platform !== undefined && isManifestMediaType(m.mediaType)) : [];
    const [first, ...rest] = await Promise.all([pick, ...others].map((d) => fetchChild(client, d, name)));
    chosen = { digest: pick.digest, ...(await pullManifest(first as RawManifest)) };
    for (const raw of rest) await pullManifest(raw);
    await writeBlob(content, top.bytes, { digest: top.digest });
    fetched.add(top.digest);
  } else if (isManifestMediaType(top.mediaType)) {
    chosen = { digest: top.digest, ...(await pullManifest(top)) };
    const have = { os: chosen.config.os ?? "", architecture: chosen.config.architecture ?? "", ...(chosen.config.variant === undefined ? {} : { variant: chosen.config.variant }) };
    // Like docker: a single-platform image for another platform is only refused when asked for one.
    if (explicitPlatform && !platformMatches(want, have)) {
      throw new TbuildError("not-found", `${name} is a ${formatPlatform(have)} image, not ${formatPlatform(want)}`, {
        hint: "drop --platform to take it anyway, or pull a multi-platform tag",
      });
    }
  } else {
    throw new TbuildError("failed-precondition", `${name}: unsupported manifest type ${top.mediaType}`);
  }

  await o.sources?.record(fetched, parsed.registry, parsed.repository);
  return { reference: name, descriptor: topDesc, manifestDigest: chosen.digest, manifest: chosen.manifest, config: chosen.config };
}

async function fetchChild(client: RepositoryClient, d: Descriptor, name: string): Promise<RawManifest> {
  if (!isManifestMediaType(d.mediaType)) {
    throw new TbuildError("not-implemented", `${name}: the index entry ${d.digest} is a ${d.mediaType}; nested indexes are not supported`);
  }
  const raw = await client.getManifest(d.digest);
  if (raw.bytes.length !== d.size) {
    throw new TbuildError("failed-precondition", `${name}: manifest ${d.digest} is ${raw.bytes.length} bytes, the index says ${d.size}`);
  }
  return raw;
}

function noPlatform(name: string, index: Index, want: Platform): TbuildError {
  const have = index.manifests.flatMap((m) => (m.platform === undefined || m.platform.architecture === "unknown" ? [] : [formatPlatform(m.platform)]));
  return new TbuildError("not-found", `${name} has no image for ${formatPlatform(want)} (it has: ${have.join(", ") || "none"})`, {
    hint: "choose one of those with --platform",
  });
}
