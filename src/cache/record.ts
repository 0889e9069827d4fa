import type { LayerDescriptor } from "../oci/layer.js";

/**
 * What a cached step produced: its layer (none for a step that changed no file). The one
 * record every cache backend stores and returns, whichever its medium.
 */
export interface StepRecord {
  layer: LayerDescriptor | null;
  /** When the step first ran (ISO 8601): the image's history keeps it on every cache hit. */
  created?: string;
  /** The key of the step before it: a miss is explained against records with the same parent. */
  parent?: string;
  /** Fingerprints of the key's inputs (see cache/explain.ts), to name what changed on a miss. */
  inputs?: Record<string, string>;
}
