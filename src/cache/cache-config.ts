/**
 * The config blob of a tbuild cache (registry or OCI-layout directory), and the inline
 * form kept in an image's config: step key → record. Only digests, sizes, times and
 * fingerprints are stored, never a secret or a build arg's value.
 */
import * as z from "../oci/zod.js";
import { isDigest } from "../oci/digest.js";

export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.tbuild.cache.config.v1+json";

/** The image config field holding inline cache records (`--cache-to type=inline`). */
export const INLINE_CACHE_FIELD = "tbuild.cache.v1";

const sha256 = z.string().check(z.refine(isDigest, { message: "not a sha256 digest" }));
const layerSchema = z.object({ mediaType: z.string().check(z.minLength(1)), digest: sha256, size: z.int().check(z.nonnegative()), diffID: sha256 });
export const recordSchema = z.object({
  layer: z.nullable(layerSchema),
  created: z.optional(z.string()),
  parent: z.optional(z.string()),
  inputs: z.optional(z.record(z.string(), z.string())),
});
export const recordsSchema = z.record(sha256, recordSchema);
/**
 * Exported contents of `RUN --mount=type=cache` ids (`--cache-to ...,cache-mounts=true`):
 * cache id → the layer holding the directory's tree. Readers without this field ignore it.
 */
export const mountsSchema = z.record(z.string().check(z.minLength(1)), layerSchema);
export const configSchema = z.object({ version: z.literal(1), records: recordsSchema, mounts: z.optional(mountsSchema) });

