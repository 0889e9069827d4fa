/**
 * A build cache kept in a registry, so CI runners that start empty share step results
 * (BuildKit's `--cache-to/--cache-from type=registry`).
 *
 * The cache at a ref is an OCI image manifest: its config (media type
 * `application/vnd.tbuild.cache.config.v1+json`) maps step keys to the layer each step
 * produced, and its `layers` list every layer those records name, once. Listing them
 * keeps the blobs alive under registry garbage collection and lets `skopeo copy` move
 * the whole cache. Step keys are machine independent (see DESIGN.md, "Cache keys"), so
 * a record written on one runner is a valid hit on another.
 */
import pLimit from "p-limit";
import * as z from "../oci/zod.js";
import { TbuildError } from "../errors.js";
import { MediaType, isIndexMediaType } from "../oci/media-types.js";
import { parseJson } from "../oci/parse-json.js";
import { formatReference, parseReference, type Reference } from "../oci/reference.js";
import { manifestSchema, type Descriptor, type Manifest } from "../oci/schemas.js";
import { RepositoryClient, type RawManifest } from "../registry/client.js";
import { RegistryError } from "../registry/errors.js";
import { withRetry } from "../registry/retry.js";
import { BlobSources } from "../registry/sources.js";
import { RegistrySession, type RegistryOptions } from "../registry/transport.js";
import type { LayerDescriptor } from "../oci/layer.js";
import type { ImageStore } from "../store/image-store.js";
import { CACHE_CONFIG_MEDIA_TYPE, configSchema, INLINE_CACHE_FIELD, recordsSchema } from "./cache-config.js";
import type { CacheBackend, CacheExporter, ExportSummary } from "./backend.js";
import type { StepRecord } from "./record.js";
import { readBlob, writeBlob } from "../content/blob-io.js";

export { CACHE_CONFIG_MEDIA_TYPE } from "./cache-config.js";

/**
 * Most records a cache keeps; merging drops the oldest beyond it. Bounds the manifest
 * (one layer entry per distinct layer, about 150 bytes each) well under the 4 MiB
 * registries accept, and stops a long-lived CI cache growing forever.
 */
export const MAX_CACHE_RECORDS = 5000;

/** At MAX_CACHE_RECORDS a config is about 1.6 MB without fingerprints; anything far larger is not ours. */
const CONFIG_LIMIT = 8 * 1024 * 1024;
/** What an export lets the config grow to with fingerprints (--explain-cache) before dropping the oldest ones. */
const CONFIG_BUDGET = 4 * 1024 * 1024;


export interface CacheOptions {
  store: ImageStore;
  registry?: RegistryOptions;
  /** Reuse the build's transports and tokens. */
  session?: RegistrySession;
}

export interface ExportOptions extends CacheOptions {
  /** A cache imported earlier (normally from the same ref): its records are kept, older than the new ones. */
  merge?: RemoteCache;
  /** Cache mount contents by id (cache-mounts=true), replacing the merged cache's for those ids. */
  mounts?: ReadonlyMap<string, LayerDescriptor>;
}

/** The cache at one ref, as imported: the records in memory, layers fetched on demand. */
export class RemoteCache implements CacheBackend {
  readonly description: string;

  private constructor(
    readonly reference: Reference,
    /** Oldest first: the order merging relies on to drop the oldest. */
    readonly records: ReadonlyMap<string, StepRecord>,
    readonly cacheMounts: ReadonlyMap<string, LayerDescriptor>,
    private readonly client: RepositoryClient,
    private readonly store: ImageStore,
  ) {
    this.description = `the registry cache ${formatReference(reference)}`;
  }

  /**
   * Fetches R's cache manifest and config (small); a missing R is an empty cache, not
   * an error. R may also be an image built with `--cache-to type=inline`: its records
   * are in its config, and its own layers are the cache's.
   */
  static async import(ref: string, o: CacheOptions): Promise<RemoteCache> {
    const reference = parseReference(ref);
    const session = o.session ?? new RegistrySession(o.registry);
    const client = new RepositoryClient(session.transport(reference.registry), reference.repository);
    const name = formatReference(reference);
    const manifest = await readManifest(client, reference, name);
    // The first run of a CI pipeline has no cache yet: every step simply misses.
    if (manifest === undefined) return new RemoteCache(reference, new Map(), new Map(), client, o.store);
    const inline = manifest.config.mediaType === MediaType.ociConfig || manifest.config.mediaType === MediaType.dockerConfig;
    if (!inline) checkIsCache(manifest, name);
    if (manifest.config.size > CONFIG_LIMIT) {
      throw new TbuildError("failed-precondition", `the cache config of ${name} is ${manifest.config.size} bytes, more than the ${CONFIG_LIMIT} tbuild reads`);
    }
    await client.fetchBlob(o.store.content, manifest.config);
    const bytes = await readBlob(o.store.content, manifest.config.digest, CONFIG_LIMIT);
    const config = inline ? { records: inlineRecords(bytes, manifest, name), mounts: undefined } : parseJson(configSchema, bytes, `cache config of ${name}`);
    const records = new Map(Object.entries(config.records));
    const mounts = new Map(Object.entries(config.mounts ?? {}));
    checkLayersListed(new Map([...[...records].map(([key, r]): [string, { layer: LayerDescriptor | null }] => [`step ${key}`, r]), ...[...mounts].map(([id, layer]): [string, { layer: LayerDescriptor }] => [`cache mount '${id}'`, { layer }])]), manifest, name);
    return new RemoteCache(reference, records, mounts, client, o.store);
  }

  /** The record for a step key, if R had one. */
  lookup(key: string): StepRecord | undefined {
    return this.records.get(key);
  }

  async entries(): Promise<Iterable<[string, StepRecord]>> {
    return this.records.entries();
  }

  /** Makes sure the layer's blob is in the local content store (downloads it, verified, if missing). */
  async ensureLayer(layer: LayerDescriptor): Promise<void> {
    let outcome: "present" | "downloaded";
    try {
      outcome = await this.client.fetchBlob(this.store.content, layer);
    } catch (e) {
      if (e instanceof RegistryError && e.status === 404) {
        throw new TbuildError("not-found", `the cache ${formatReference(this.reference)} names layer ${layer.digest}, but the registry no longer has it`, {
          hint: "export the cache again to repair it",
          cause: e,
        });
      }
      throw e;
    }
    // Lets a later push of the built image mount this layer instead of uploading it.
    if (outcome === "downloaded") await new BlobSources(this.store.root).record([layer.digest], this.reference.registry, this.reference.repository);
  }
}

/** `--cache-to type=registry,ref=R`: pushes the build's records to R, merged with `o.merge` when given. */
export function registryExporter(ref: string, o: ExportOptions): CacheExporter {
  return {
    async export(records, mounts): Promise<ExportSummary> {
      const pushed = await exportCache(ref, records, { ...o, ...(mounts === undefined ? {} : { mounts }) });
      return { destination: ref, records: pushed.records, layers: pushed.layers, ...(mounts === undefined ? {} : { mounts: mounts.size }) };
    },
  };
}

/** Pushes the given records (and their layers, skipping blobs the registry has, mounting from R's repo where possible) as the cache at `ref`. */
export async function exportCache(ref: string, records: ReadonlyMap<string, StepRecord>, o: ExportOptions): Promise<{ digest: string; records: number; layers: number }> {
  const dest = parseReference(ref);
  if (dest.tag === undefined) throw new TbuildError("invalid-argument", `cannot export a cache to ${ref}: a cache is pushed to a tag, not a digest`);
  const name = formatReference(dest);
  const merge = o.merge;
  const session = o.session ?? new RegistrySession(o.registry);
  const client = new RepositoryClient(session.transport(dest.registry), dest.repository);
  // Refuses to overwrite an image that is not a cache, e.g. when --cache-to names the image's own tag.
  if (merge === undefined || formatReference(merge.reference) !== name) await cacheManifest(client, dest, name);
  const kept = mergeRecords(merge?.records, records, MAX_CACHE_RECORDS);
  const mounts = new Map([...(merge?.cacheMounts ?? []), ...(o.mounts ?? [])]);
  const layers = distinctLayers(new Map([...kept, ...[...mounts].map(([id, layer]): [string, { layer: LayerDescriptor }] => [`mount:${id}`, { layer }])]));
  const content = o.store.content;
  const sources = new BlobSources(o.store.root);
  const mergeRepo = merge !== undefined && merge.reference.registry === dest.registry ? [merge.reference.repository] : [];
  const mergeLayers = new Set(merge === undefined ? [] : [...distinctLayers(merge.records), ...merge.cacheMounts.values()].map((l) => l.digest));

  const pushLayer = async (layer: LayerDescriptor): Promise<void> => {
    if ((await content.info(layer.digest))?.size !== layer.size) {
      // Only a kept record's layer may be missing here; usually it is already in the
      // destination (the same ref), which a HEAD tells without downloading anything.
      if ((await withRetry(() => client.blobSize(layer.digest), session.options)) === layer.size) return;
      if (merge === undefined || !mergeLayers.has(layer.digest)) {
        throw new TbuildError("not-found", `cannot export the cache to ${name}: layer ${layer.digest} is not in the store ${o.store.root}`, {
          hint: "pass only records of steps this build ran or found in the cache",
        });
      }
      await merge.ensureLayer(layer);
    }
    const known = await sources.repositories(layer.digest, dest.registry);
    await client.pushBlob(content, layer, { mountFrom: [...new Set([...mergeRepo, ...known])] });
  };
  const limit = pLimit(4);
  await Promise.all(layers.map((l) => limit(() => pushLayer(l))));

  const configBytes = configWithin(kept, mounts, CONFIG_BUDGET);
  // Into the local store first: pushBlob streams what it uploads from there.
  const config = await writeBlob(content, configBytes);
  await client.pushBlob(content, config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: config.digest, size: config.size },
    layers: layers.map((l): Descriptor => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const digest = await client.putManifest(dest.tag, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  await sources.record([...layers.map((l) => l.digest), config.digest], dest.registry, dest.repository);
  return { digest, records: kept.size, layers: layers.length };
}

/** The single-image manifest at `ref`, undefined when there is none; an index is refused. */
async function readManifest(client: RepositoryClient, ref: Reference, name: string): Promise<Manifest | undefined> {
  let raw: RawManifest;
  try {
    raw = await client.getManifest(ref.digest ?? ref.tag ?? "latest");
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return undefined;
    throw e;
  }
  if (isIndexMediaType(raw.mediaType)) {
    throw new TbuildError("failed-precondition", `${name} is not a tbuild cache: it holds an image index`, {
      hint: "give the cache a ref of its own, e.g. registry.example/app:buildcache; inline records are read from single-platform images",
    });
  }
  return parseJson(manifestSchema, raw.bytes, `cache manifest ${name}`);
}

/** The cache manifest at `ref`, undefined when there is none; anything else there is refused (never overwritten). */
async function cacheManifest(client: RepositoryClient, ref: Reference, name: string): Promise<Manifest | undefined> {
  const manifest = await readManifest(client, ref, name);
  if (manifest !== undefined) checkIsCache(manifest, name);
  return manifest;
}

function checkIsCache(manifest: Manifest, name: string): void {
  if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new TbuildError("failed-precondition", `${name} is not a tbuild cache: it holds an image whose config is ${manifest.config.mediaType}`, {
      hint: "give the cache a ref of its own, e.g. registry.example/app:buildcache, never the image's own tag",
    });
  }
}

/** The records an image built with `--cache-to type=inline` carries in its config. */
function inlineRecords(configBytes: Buffer, manifest: Manifest, name: string): Record<string, StepRecord> {
  const config = parseJson(z.looseObject({ [INLINE_CACHE_FIELD]: z.optional(recordsSchema) }), configBytes, `image config of ${name}`);
  const records = config[INLINE_CACHE_FIELD];
  if (records === undefined) {
    throw new TbuildError("failed-precondition", `${name} is not a tbuild cache: it holds an image whose config is ${manifest.config.mediaType}, with no inline cache records`, {
      hint: "build and push it with --cache-to type=inline, or export a cache of its own with --cache-to type=registry,ref=REF",
    });
  }
  return records;
}

/**
 * The config JSON; when the records' fingerprints make it larger than `budget`, the
 * oldest records lose theirs (they still hit, but a miss next to them is explained
 * less precisely), so every reader's size limit holds.
 */
function configWithin(records: ReadonlyMap<string, StepRecord>, mounts: ReadonlyMap<string, LayerDescriptor>, budget: number): Buffer {
  const entries = [...records];
  const json = (): Buffer => Buffer.from(JSON.stringify({ version: 1, records: Object.fromEntries(entries), ...(mounts.size === 0 ? {} : { mounts: Object.fromEntries(mounts) }) }));
  let bytes = json();
  for (let i = 0; bytes.length > budget && i < entries.length; i += 64) {
    for (const entry of entries.slice(i, i + 64)) {
      const { inputs: _dropped, ...rest } = entry[1];
      entry[1] = rest;
    }
    bytes = json();
  }
  return bytes;
}

/** Earlier records first, then the new ones (a re-recorded key counts as new); the newest `max` survive. */
function mergeRecords(earlier: ReadonlyMap<string, StepRecord> | undefined, newer: ReadonlyMap<string, StepRecord>, max: number): Map<string, StepRecord> {
  const all = new Map(earlier);
  for (const [key, record] of newer) {
    all.delete(key);
    all.set(key, record);
  }
  return new Map([...all].slice(Math.max(0, all.size - max)));
}

function distinctLayers(records: ReadonlyMap<string, Pick<StepRecord, "layer">>): LayerDescriptor[] {
  const byDigest = new Map<string, LayerDescriptor>();
  for (const { layer } of records.values()) if (layer !== null && !byDigest.has(layer.digest)) byDigest.set(layer.digest, layer);
  return [...byDigest.values()];
}

/**
 * A record naming a layer the manifest does not list points at a blob the registry may
 * have deleted. `named`: what names each layer ("step sha256:…", "cache mount 'id'").
 */
function checkLayersListed(named: ReadonlyMap<string, Pick<StepRecord, "layer">>, manifest: Manifest, name: string): void {
  const listed = new Map(manifest.layers.map((l) => [l.digest, l]));
  for (const [key, { layer }] of named) {
    if (layer === null) continue;
    const entry = listed.get(layer.digest);
    if (entry === undefined || entry.size !== layer.size || entry.mediaType !== layer.mediaType) {
      throw new TbuildError("failed-precondition", `the cache ${name} is damaged: ${key} names layer ${layer.digest}, which its manifest does not list`, {
        hint: "export the cache again (or delete the tag) to replace it",
      });
    }
  }
}
