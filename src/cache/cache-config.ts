/**
 * The config blob of a tbuild cache (registry or OCI-layout directory), and the inline
 * form kept in an image's config: step key → record. Only digests, sizes, times and
 * fingerprints are stored, never a secret or a build arg's value.
 */
import { z } from "zod";
import { isDigest } from "../oci/digest.js";

export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.tbuild.cache.config.v1+json";

/** The image config field holding inline cache records (`--cache-to type=inline`). */
export const INLINE_CACHE_FIELD = "tbuild.cache.v1";

const sha256 = z.string().refine(isDigest, { message: "not a sha256 digest" });
const layerSchema = z.object({ mediaType: z.string().min(1), digest: sha256, size: z.number().int().nonnegative(), diffID: sha256 });
export const recordSchema = z.object({
  layer: layerSchema.nullable(),
  created: z.string().optional(),
  parent: z.string().optional(),
  inputs: z.record(z.string(), z.string()).optional(),
});
export const recordsSchema = z.record(sha256, recordSchema);
/**
 * Exported contents of `RUN --mount=type=cache` ids (`--cache-to ...,cache-mounts=true`):
 * cache id → the layer holding the directory's tree. Readers without this field ignore it.
 */
export const mountsSchema = z.record(z.string().min(1), layerSchema);
export const configSchema = z.object({ version: z.literal(1), records: recordsSchema, mounts: mountsSchema.optional() });

