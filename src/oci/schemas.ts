import * as z from "./zod.js";
import { isSpecDigest } from "./digest.js";
import { MediaType } from "./media-types.js";

/*
 * Zod schemas for the OCI image-spec (v1.1) and Docker v2 schema2. Objects are loose:
 * registries and other tools add fields we do not know, and those must survive a
 * read-modify-write. Docker config fields keep their capitalised names.
 */

export const digestSchema = z.string().check(z.refine(isSpecDigest, { message: "invalid digest" }));
const annotations = z.record(z.string(), z.string());

export const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  "os.version": z.optional(z.string()),
  "os.features": z.optional(z.array(z.string())),
  variant: z.optional(z.string()),
  features: z.optional(z.array(z.string())),
});

export const descriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.int().check(z.nonnegative()),
  urls: z.optional(z.array(z.string())),
  annotations: z.optional(annotations),
  data: z.optional(z.string()),
  platform: z.optional(platformSchema),
  artifactType: z.optional(z.string()),
});

/** An image manifest, OCI or Docker schema2 (they share this shape). */
export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.optional(z.enum([MediaType.ociManifest, MediaType.dockerManifest])),
  artifactType: z.optional(z.string()),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: z.optional(descriptorSchema),
  annotations: z.optional(annotations),
});

/** An image index, OCI or Docker manifest list. */
export const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.optional(z.enum([MediaType.ociIndex, MediaType.dockerManifestList])),
  artifactType: z.optional(z.string()),
  manifests: z.array(descriptorSchema),
  subject: z.optional(descriptorSchema),
  annotations: z.optional(annotations),
});

/** Docker and the image-spec encode sets as objects with empty-object values. */
const emptySet = z.record(z.string(), z.looseObject({}));

export const healthcheckSchema = z.looseObject({
  Test: z.optional(z.array(z.string())),
  Interval: z.optional(z.number()),
  Timeout: z.optional(z.number()),
  StartPeriod: z.optional(z.number()),
  StartInterval: z.optional(z.number()),
  Retries: z.optional(z.number()),
});

/** The runtime part of an image config, with Docker's capitalised field names. */
export const containerConfigSchema = z.looseObject({
  User: z.optional(z.string()),
  ExposedPorts: z.nullish(emptySet),
  Env: z.nullish(z.array(z.string())),
  Entrypoint: z.nullish(z.array(z.string())),
  Cmd: z.nullish(z.array(z.string())),
  Volumes: z.nullish(emptySet),
  WorkingDir: z.optional(z.string()),
  Labels: z.nullish(z.record(z.string(), z.string())),
  StopSignal: z.optional(z.string()),
  ArgsEscaped: z.optional(z.boolean()),
  Shell: z.nullish(z.array(z.string())),
  Healthcheck: z.nullish(healthcheckSchema),
  OnBuild: z.nullish(z.array(z.string())),
});

export const historySchema = z.looseObject({
  created: z.optional(z.string()),
  author: z.optional(z.string()),
  created_by: z.optional(z.string()),
  comment: z.optional(z.string()),
  empty_layer: z.optional(z.boolean()),
});

export const imageConfigSchema = z.looseObject({
  created: z.optional(z.string()),
  author: z.optional(z.string()),
  architecture: z.string(),
  os: z.string(),
  "os.version": z.optional(z.string()),
  "os.features": z.optional(z.array(z.string())),
  variant: z.optional(z.string()),
  config: z.optional(containerConfigSchema),
  rootfs: z.looseObject({
    type: z.literal("layers"),
    diff_ids: z.array(digestSchema),
  }),
  history: z.optional(z.array(historySchema)),
});

/** The `oci-layout` file at the root of an image layout. */
export const layoutFileSchema = z.looseObject({
  imageLayoutVersion: z.string(),
});

/** The Docker `docker save` / `docker load` manifest.json: one entry per image. */
export const dockerArchiveManifestSchema = z.array(
  z.looseObject({
    Config: z.string(),
    RepoTags: z.nullish(z.array(z.string())),
    Layers: z.array(z.string()),
    LayerSources: z.optional(z.record(z.string(), descriptorSchema)),
  }),
);

export type Platform = z.infer<typeof platformSchema>;
export type Descriptor = z.infer<typeof descriptorSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type Index = z.infer<typeof indexSchema>;
export type ContainerConfig = z.infer<typeof containerConfigSchema>;
export type Healthcheck = z.infer<typeof healthcheckSchema>;
export type History = z.infer<typeof historySchema>;
export type ImageConfig = z.infer<typeof imageConfigSchema>;
export type LayoutFile = z.infer<typeof layoutFileSchema>;
export type DockerArchiveManifest = z.infer<typeof dockerArchiveManifestSchema>;
