import { z } from "zod";
import { isSpecDigest } from "./digest.js";
import { MediaType } from "./media-types.js";

/*
 * Zod schemas for the OCI image-spec (v1.1) and Docker v2 schema2. Objects are loose:
 * registries and other tools add fields we do not know, and those must survive a
 * read-modify-write. Docker config fields keep their capitalised names.
 */

export const digestSchema = z.string().refine(isSpecDigest, { message: "invalid digest" });
const annotations = z.record(z.string(), z.string());

export const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});

export const descriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  platform: platformSchema.optional(),
  artifactType: z.string().optional(),
});

/** An image manifest, OCI or Docker schema2 (they share this shape). */
export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MediaType.ociManifest, MediaType.dockerManifest]).optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});

/** An image index, OCI or Docker manifest list. */
export const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MediaType.ociIndex, MediaType.dockerManifestList]).optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});

/** Docker and the image-spec encode sets as objects with empty-object values. */
const emptySet = z.record(z.string(), z.looseObject({}));

export const healthcheckSchema = z.looseObject({
  Test: z.array(z.string()).optional(),
  Interval: z.number().optional(),
  Timeout: z.number().optional(),
  StartPeriod: z.number().optional(),
  StartInterval: z.number().optional(),
  Retries: z.number().optional(),
});

/** The runtime part of an image config, with Docker's capitalised field names. */
export const containerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: emptySet.nullish(),
  Env: z.array(z.string()).nullish(),
  Entrypoint: z.array(z.string()).nullish(),
  Cmd: z.array(z.string()).nullish(),
  Volumes: emptySet.nullish(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
  Shell: z.array(z.string()).nullish(),
  Healthcheck: healthcheckSchema.nullish(),
  OnBuild: z.array(z.string()).nullish(),
});

export const historySchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  created_by: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});

export const imageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: containerConfigSchema.optional(),
  rootfs: z.looseObject({
    type: z.literal("layers"),
    diff_ids: z.array(digestSchema),
  }),
  history: z.array(historySchema).optional(),
});

/** The `oci-layout` file at the root of an image layout. */
export const layoutFileSchema = z.looseObject({
  imageLayoutVersion: z.string(),
});

/** The Docker `docker save` / `docker load` manifest.json: one entry per image. */
export const dockerArchiveManifestSchema = z.array(
  z.looseObject({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
    LayerSources: z.record(z.string(), descriptorSchema).optional(),
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
