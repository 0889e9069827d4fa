/**
 * `--cache-to` as exporters: a registry or local cache is written after the image is
 * stored (src/cache/ does the writing); inline records go into the image's config
 * before it is stored. The specs were checked by cache/spec.ts when parsed.
 */
import { INLINE_CACHE_FIELD } from "../cache/cache-config.js";
import { openExporter, recordsForMode } from "../cache/open.js";
import type { CacheExportSpec } from "../cache/spec.js";
import type { ImageConfig } from "../oci/schemas.js";
import type { ResolvedExporter } from "./exporter.js";

type CacheTypes = { [T in CacheExportSpec["type"]]: (spec: Extract<CacheExportSpec, { type: T }>) => ResolvedExporter };

function writing(spec: Exclude<CacheExportSpec, { type: "inline" }>, where: string): ResolvedExporter {
  return {
    name: `exporting cache to ${where}`,
    kind: "cache",
    failureIsWarning: spec.ignoreError,
    async finalize(image, progress) {
      const exporter = await openExporter(spec, image.cache.imports, { store: image.store, registry: image.registry, session: image.session });
      const mounts = spec.cacheMounts === true ? await image.cache.mounts() : undefined;
      const exported = await exporter.export(recordsForMode(image.cache.used, spec.mode, image.cache.final), mounts);
      const withMounts = exported.mounts === undefined ? "" : `, ${exported.mounts} cache mounts`;
      progress.status("records", `${exported.records} steps${withMounts}, ${exported.layers} layers to ${exported.destination}`, { done: true });
    },
  };
}

/** The `--cache-to` types, by the spec's type. */
export const cacheExportTypes: CacheTypes = {
  registry: (spec) => writing(spec, spec.ref),
  local: (spec) => writing(spec, spec.dest),
  inline: () => ({
    name: "inline cache records",
    kind: "cache",
    // The records of the image's own steps travel in its config.
    configure: (config, steps): ImageConfig => ({ ...config, [INLINE_CACHE_FIELD]: Object.fromEntries(recordsForMode(steps.used, "min", steps.final)) }),
  }),
};

export function resolveCacheExport(spec: CacheExportSpec): ResolvedExporter {
  return (cacheExportTypes[spec.type] as (s: CacheExportSpec) => ResolvedExporter)(spec);
}
