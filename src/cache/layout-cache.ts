/**
 * A build cache in a local OCI image layout directory (`--cache-to type=local,dest=DIR`,
 * `--cache-from type=local,src=DIR`), the form CI systems keep between jobs (GitHub
 * Actions `actions/cache`, GitLab `cache:`). The layout holds one manifest, named
 * `tbuild-cache` in index.json, shaped as the registry cache's: a config of step
 * records and the layers they name.
 *
 * Writes never leave a half-written cache: blobs are written under temporary names and
 * renamed, index.json is replaced atomically last, and only then are blobs the new
 * index no longer names deleted. A crash at any point leaves the old index, whose
 * blobs are all still there.
 */
import { mkdir, open, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import * as z from "../oci/zod.js";
import { writeAtomic, writeStreamAtomic } from "../atomic-write.js";
import { errnoCode, ioError, TbuildError } from "../errors.js";
import { digestHex, digestOf, parseDigest } from "../oci/digest.js";
import { MediaType } from "../oci/media-types.js";
import { parseJson } from "../oci/parse-json.js";
import { indexSchema, manifestSchema, type Manifest } from "../oci/schemas.js";
import type { LayerDescriptor } from "../oci/layer.js";
import type { CacheBackend, CacheExporter, ExportSummary } from "./backend.js";
import { CACHE_CONFIG_MEDIA_TYPE, configSchema } from "./cache-config.js";
import type { ContentStore } from "../content/content.js";
import type { StepRecord } from "./record.js";
import { writeBlob as storeBlob } from "../content/blob-io.js";

/** The `org.opencontainers.image.ref.name` of the cache manifest in index.json. */
export const LAYOUT_CACHE_NAME = "tbuild-cache";
const REF_NAME = "org.opencontainers.image.ref.name";
/** Most records kept, as for a registry cache. */
const MAX_RECORDS = 5000;
const CONFIG_LIMIT = 64 * 1024 * 1024;
/** A temporary blob older than this belongs to an export that died. */
const STALE_TEMP_MS = 3600 * 1000;

/** The layout config: the registry cache's, plus when each record was last exported (for max-age). */
const layoutConfigSchema = z.extend(configSchema, { used: z.optional(z.record(z.string(), z.string())) });
interface LayoutConfig {
  version: 1;
  records: Record<string, StepRecord>;
  used?: Record<string, string>;
  /** Cache mount contents by cache id (cache-mounts=true). */
  mounts?: Record<string, LayerDescriptor>;
}

export interface LayoutPruning {
  /** Bytes of layers the cache may hold; the records used longest ago go first. */
  maxSize?: number;
  /** Records not exported again within this many milliseconds are dropped. */
  maxAgeMs?: number;
}

function blobFile(dir: string, digest: string): string {
  return path.join(dir, "blobs", "sha256", digestHex(parseDigest(digest)));
}

/** The cache's config at `dir`, undefined when there is no cache there yet. */
async function readLayout(dir: string): Promise<LayoutConfig | undefined> {
  let indexBytes: Buffer;
  try {
    indexBytes = await readFile(path.join(dir, "index.json"));
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw ioError(e, `reading the cache ${dir}`);
  }
  const index = parseJson(indexSchema, indexBytes, `${dir}/index.json`);
  const entry = index.manifests.find((m) => m.annotations?.[REF_NAME] === LAYOUT_CACHE_NAME);
  if (entry === undefined) {
    throw new TbuildError("failed-precondition", `${dir} is an OCI layout without a tbuild cache (no manifest named ${LAYOUT_CACHE_NAME})`, {
      hint: "give the cache a directory of its own",
    });
  }
  const manifest = parseJson(manifestSchema, await readBlob(dir, entry.digest, 4 * 1024 * 1024), `cache manifest in ${dir}`);
  if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new TbuildError("failed-precondition", `${dir} is not a tbuild cache: its manifest's config is ${manifest.config.mediaType}`);
  }
  return parseJson(layoutConfigSchema, await readBlob(dir, manifest.config.digest, CONFIG_LIMIT), `cache config in ${dir}`);
}

/** A small blob, checked against its digest. */
async function readBlob(dir: string, digest: string, limit: number): Promise<Buffer> {
  const file = blobFile(dir, digest);
  let bytes: Buffer;
  try {
    if ((await stat(file)).size > limit) throw new TbuildError("failed-precondition", `${file} is larger than the ${limit} bytes tbuild reads`);
    bytes = await readFile(file);
  } catch (e) {
    if (e instanceof TbuildError) throw e;
    if (errnoCode(e) === "ENOENT") throw new TbuildError("failed-precondition", `the cache ${dir} is damaged: blob ${digest} is missing`, { hint: "delete the directory; the next --cache-to writes it afresh" });
    throw ioError(e, `reading ${file}`);
  }
  if (digestOf(bytes) !== digest) throw new TbuildError("failed-precondition", `the cache ${dir} is damaged: blob ${digest} does not match its digest`, { hint: "delete the directory; the next --cache-to writes it afresh" });
  return bytes;
}

/** `--cache-from type=local,src=DIR`: records read at once, layers copied in (verified) only on a hit. */
export class LayoutCache implements CacheBackend {
  readonly description: string;

  private constructor(
    readonly dir: string,
    readonly records: ReadonlyMap<string, StepRecord>,
    readonly cacheMounts: ReadonlyMap<string, LayerDescriptor>,
    private readonly content: ContentStore,
  ) {
    this.description = `the local cache ${dir}`;
  }

  /** A directory without a cache yet (a CI job's first run) is an empty cache. */
  static async open(dir: string, content: ContentStore): Promise<LayoutCache> {
    const config = await readLayout(dir);
    return new LayoutCache(dir, new Map(Object.entries(config?.records ?? {})), new Map(Object.entries(config?.mounts ?? {})), content);
  }

  lookup(key: string): StepRecord | undefined {
    return this.records.get(key);
  }

  async entries(): Promise<Iterable<[string, StepRecord]>> {
    return this.records.entries();
  }

  async ensureLayer(layer: LayerDescriptor): Promise<void> {
    if ((await this.content.info(layer.digest))?.size === layer.size) return;
    const file = blobFile(this.dir, layer.digest);
    try {
      // Opened first: a missing file is the cache's loss, not a failed write into the store.
      const fh = await open(file, "r");
      await storeBlob(this.content, fh.createReadStream(), { digest: layer.digest, size: layer.size });
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw new TbuildError("not-found", `the cache ${this.dir} names layer ${layer.digest}, but the file is gone`);
      if (e instanceof TbuildError && e.category === "failed-precondition") {
        // A blob whose bytes do not match its name is of no use to anyone: removed, the
        // next --cache-to to this directory writes it again instead of keeping it.
        await rm(file, { force: true }).catch(() => undefined);
        throw new TbuildError("failed-precondition", `the cache ${this.dir} is damaged: ${file} does not match its digest (${e.message})`, {
          hint: "the damaged blob was removed; the next --cache-to to this directory repairs the cache",
        });
      }
      throw e;
    }
  }
}

/** `--cache-to type=local,dest=DIR`: merges the build's records into the cache there, pruned, written atomically. */
export function layoutExporter(dir: string, content: ContentStore, pruning: LayoutPruning = {}): CacheExporter {
  return {
    async export(records, newMounts): Promise<ExportSummary> {
      const now = new Date();
      await mkdir(path.join(dir, "blobs", "sha256"), { recursive: true }).catch((e: unknown) => {
        throw ioError(e, `creating the cache directory ${dir}`);
      });
      const earlier = await readLayout(dir);
      // This build's cache mounts replace the earlier contents of the same ids; others stay.
      const mounts = new Map([...Object.entries(earlier?.mounts ?? {}), ...(newMounts ?? [])]);
      const mountBytes = distinctLayers(new Map([...mounts].map(([id, layer]) => [id, { layer }]))).reduce((n, l) => n + l.size, 0);
      const kept = keptRecords(earlier, records, now, pruning.maxSize === undefined ? pruning : { ...pruning, maxSize: Math.max(0, pruning.maxSize - mountBytes) });
      const layers = distinctLayers(new Map([...kept.records, ...[...mounts].map(([id, layer]): [string, { layer: LayerDescriptor }] => [`mount:${id}`, { layer }])]));
      for (const layer of layers) {
        if ((await stat(blobFile(dir, layer.digest)).catch(() => undefined))?.size === layer.size) continue;
        await writeStreamAtomic(blobFile(dir, layer.digest), content.openRead(layer.digest));
      }
      const config: LayoutConfig = { version: 1, records: Object.fromEntries(kept.records), used: Object.fromEntries(kept.used), ...(mounts.size === 0 ? {} : { mounts: Object.fromEntries(mounts) }) };
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDigest = digestOf(configBytes);
      await writeBlob(dir, configDigest, configBytes);
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: configDigest, size: configBytes.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      };
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      const manifestDigest = digestOf(manifestBytes);
      await writeBlob(dir, manifestDigest, manifestBytes);
      await writeAtomic(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      const index = {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length, annotations: { [REF_NAME]: LAYOUT_CACHE_NAME } }],
      };
      // The commit point: before it readers see the old cache, after it the new one.
      await writeAtomic(path.join(dir, "index.json"), JSON.stringify(index));
      await removeUnnamedBlobs(dir, new Set([manifestDigest, configDigest, ...layers.map((l) => l.digest)]));
      return { destination: dir, records: kept.records.size, layers: layers.length, ...(newMounts === undefined ? {} : { mounts: newMounts.size }) };
    },
  };
}

/** Earlier records (oldest use first), then this build's; aged-out ones dropped, then the oldest until the layers fit max-size. */
function keptRecords(earlier: LayoutConfig | undefined, records: ReadonlyMap<string, StepRecord>, now: Date, pruning: LayoutPruning): { records: Map<string, StepRecord>; used: Map<string, string> } {
  const all = new Map<string, { record: StepRecord; used: string }>();
  const stamp = now.toISOString();
  const old = Object.entries(earlier?.records ?? {}).map(([key, record]) => ({ key, record, used: earlier?.used?.[key] ?? stamp }));
  old.sort((a, b) => a.used.localeCompare(b.used));
  for (const { key, record, used } of old) {
    if (pruning.maxAgeMs !== undefined && now.getTime() - Date.parse(used) > pruning.maxAgeMs) continue;
    all.set(key, { record, used });
  }
  for (const [key, record] of records) {
    all.delete(key);
    all.set(key, { record, used: stamp });
  }
  let entries = [...all].slice(Math.max(0, all.size - MAX_RECORDS));
  if (pruning.maxSize !== undefined) {
    // Newest first: keep records while the layers they add fit.
    const kept: typeof entries = [];
    const counted = new Set<string>();
    let bytes = 0;
    for (const entry of [...entries].reverse()) {
      const layer = entry[1].record.layer;
      const adds = layer === null || counted.has(layer.digest) ? 0 : layer.size;
      if (bytes + adds > pruning.maxSize) continue;
      if (layer !== null) counted.add(layer.digest);
      bytes += adds;
      kept.push(entry);
    }
    entries = kept.reverse();
  }
  return { records: new Map(entries.map(([k, v]) => [k, v.record])), used: new Map(entries.map(([k, v]) => [k, v.used])) };
}

function distinctLayers(records: ReadonlyMap<string, Pick<StepRecord, "layer">>): LayerDescriptor[] {
  const byDigest = new Map<string, LayerDescriptor>();
  for (const { layer } of records.values()) if (layer !== null && !byDigest.has(layer.digest)) byDigest.set(layer.digest, layer);
  return [...byDigest.values()];
}

async function writeBlob(dir: string, digest: string, bytes: Buffer): Promise<void> {
  await writeAtomic(blobFile(dir, digest), bytes);
}

/** Deletes blobs the index no longer names, and temporary files of exports that died. */
async function removeUnnamedBlobs(dir: string, named: ReadonlySet<string>): Promise<void> {
  const blobs = path.join(dir, "blobs", "sha256");
  for (const name of await readdir(blobs)) {
    const file = path.join(blobs, name);
    if (name.endsWith(".tmp")) {
      const st = await stat(file).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true });
      continue;
    }
    if (!named.has(`sha256:${name}`)) await rm(file, { force: true });
  }
}
