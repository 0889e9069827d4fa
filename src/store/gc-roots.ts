import type { GcRootProvider } from "./gc.js";

/**
 * Holders of blobs besides index.json (build cache, remote cache imports), consulted by
 * `tbuild prune`. Add a provider here rather than registering one at import time.
 */
export const gcRootProviders: GcRootProvider[] = [];
