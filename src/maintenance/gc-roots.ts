import { StepCache } from "../cache/step-cache.js";
import type { GcRootProvider } from "../store/gc.js";

/**
 * Besides index.json, the build cache holds blobs: its layers stay until their
 * records go. `except` leaves out records a dry run of prune only pretends to drop.
 */
export function buildCacheRoots(except: ReadonlySet<string> = new Set()): GcRootProvider {
  return async (store) => (await new StepCache(store.root).layers(except)).map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
}
