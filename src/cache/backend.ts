/**
 * The seam every build cache sits behind: the store's own step cache, a registry
 * cache, a local OCI-layout directory, an image's inline records. The builder asks
 * `CacheLookup` (lookup.ts) for a step, never a backend directly.
 */
import { DiskFullError } from "../disk-full.js";
import { isTbuildError, type TbuildError } from "../errors.js";
import type { LayerDescriptor } from "../oci/layer.js";
import type { StepRecord } from "./record.js";

/** A place step records can be read from. */
export interface CacheBackend {
  /** Names the cache in warnings and explanations, e.g. "registry cache r.example/app:cache". */
  readonly description: string;
  /** The record for a step key, undefined on a miss. */
  lookup(key: string): StepRecord | undefined | Promise<StepRecord | undefined>;
  /**
   * Makes sure the layer's blob is in the local content store, verified against its
   * digest; throws a not-found TbuildError when the cache no longer has it.
   */
  ensureLayer(layer: LayerDescriptor): Promise<void>;
  /** Every record with its key (read to explain a miss). */
  entries(): Promise<Iterable<[string, StepRecord]>>;
  /** Exported cache mount contents by cache id (`cache-mounts=true`), fetched with ensureLayer. */
  readonly cacheMounts?: ReadonlyMap<string, LayerDescriptor>;
}

/** What an export reports. */
export interface ExportSummary {
  /** Where the records went, as the user named it. */
  destination: string;
  records: number;
  layers: number;
  /** Cache mount ids whose contents went there (cache-mounts=true). */
  mounts?: number;
}

/** A place step records are written to (`--cache-to`). */
export interface CacheExporter {
  /**
   * Writes `records` (and the layers they name) there, merged with what it holds; and
   * with cache-mounts=true, `mounts` (cache id → layer of its contents, in the local
   * content store), replacing what it held for those ids.
   */
  export(records: ReadonlyMap<string, StepRecord>, mounts?: ReadonlyMap<string, LayerDescriptor>): Promise<ExportSummary>;
}

/**
 * Whether a backend's failure to give a layer is a cache miss (with a warning) rather
 * than a failed build: the blob is gone, damaged or unreachable. A full disk or a bug
 * here is not the cache's fault, and stops the build.
 */
export function importFailureIsMiss(e: unknown): e is TbuildError {
  return isTbuildError(e) && !(e instanceof DiskFullError) && e.category !== "internal";
}
