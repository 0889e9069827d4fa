import { StepCache } from "../cache/step-cache.js";
import type { GcRootProvider } from "./gc.js";

/** The build cache's layers stay until the cache entry goes. */
export const buildCacheRoots: GcRootProvider = async (store) =>
  (await new StepCache(store.root).layers()).map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));

/**
 * Holders of blobs besides index.json (build cache, remote cache imports), consulted by
 * `tbuild prune` and `tbuild du`. Add a provider here rather than registering one at
 * import time.
 */
export const gcRootProviders: GcRootProvider[] = [buildCacheRoots];
