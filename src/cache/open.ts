/**
 * Turns checked `--cache-from` / `--cache-to` specs into backends and exporters. The
 * registry code loads only when a registry cache is named.
 */
import { TbuildError } from "../errors.js";
import { formatReference, parseReference } from "../oci/reference.js";
import type { RegistryOptions, RegistrySession } from "../registry/transport.js";
import type { ImageStore } from "../store/image-store.js";
import type { CacheBackend, CacheExporter } from "./backend.js";
import type { RemoteCache as RemoteCacheType } from "./remote-cache.js";
import type { CacheExportSpec, CacheImportSpec, CacheMode } from "./spec.js";
import type { StepRecord } from "./record.js";

export interface OpenContext {
  store: ImageStore;
  registry: RegistryOptions | undefined;
  /** The build's registry session, made on first use. */
  session: () => Promise<RegistrySession>;
}

/**
 * Opens every `--cache-from` in order. As with BuildKit, a cache that cannot be read
 * makes the build slower, not failed: `warn` is told and the cache skipped.
 */
export async function openImports(specs: readonly CacheImportSpec[], o: OpenContext, warn: (message: string) => void): Promise<CacheBackend[]> {
  const out: CacheBackend[] = [];
  for (const spec of specs) {
    try {
      if (spec.type === "local") {
        const { LayoutCache } = await import("./layout-cache.js");
        out.push(await LayoutCache.open(spec.src, o.store.content));
      } else {
        const { RemoteCache } = await import("./remote-cache.js");
        out.push(await RemoteCache.import(spec.ref, { store: o.store, session: await o.session(), ...(o.registry === undefined ? {} : { registry: o.registry }) }));
      }
    } catch (e) {
      if (!(e instanceof TbuildError)) throw e;
      warn(`--cache-from ${spec.type === "local" ? `type=local,src=${spec.src}` : spec.ref} skipped: ${e.message}`);
    }
  }
  return out;
}

/** The exporter for a registry or local `--cache-to` (inline records are written by the build into the image's config). */
export async function openExporter(spec: Exclude<CacheExportSpec, { type: "inline" }>, imports: readonly CacheBackend[], o: OpenContext): Promise<CacheExporter> {
  if (spec.type === "local") {
    const { layoutExporter } = await import("./layout-cache.js");
    return layoutExporter(spec.dest, o.store.content, {
      ...(spec.maxSize === undefined ? {} : { maxSize: spec.maxSize }),
      ...(spec.maxAgeMs === undefined ? {} : { maxAgeMs: spec.maxAgeMs }),
    });
  }
  const { RemoteCache, registryExporter } = await import("./remote-cache.js");
  const name = formatReference(parseReference(spec.ref));
  // Exporting to the ref a cache was imported from keeps its older records.
  const merge = imports.find((c): c is RemoteCacheType => c instanceof RemoteCache && formatReference(c.reference) === name);
  return registryExporter(spec.ref, { store: o.store, session: await o.session(), ...(o.registry === undefined ? {} : { registry: o.registry }), ...(merge === undefined ? {} : { merge }) });
}

/**
 * The records a mode exports: `max` every step this build resolved; `min` only those
 * the final images are made of (`finalSteps`, their chains through base stages).
 */
export function recordsForMode(used: ReadonlyMap<string, StepRecord>, mode: CacheMode, finalSteps: readonly string[]): Map<string, StepRecord> {
  if (mode === "max") return new Map(used);
  return new Map(finalSteps.flatMap((key) => {
    const record = used.get(key);
    return record === undefined ? [] : [[key, record] as const];
  }));
}
