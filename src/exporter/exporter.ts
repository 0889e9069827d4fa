/**
 * The seam every output of a build sits behind, as BuildKit's Exporter/ExporterInstance:
 * an exporter type `resolve`s its options before any step runs (a bad `-o`, `--push`,
 * `--load` or `--cache-to` fails in the first second, not after the build), and the
 * resolved exporter's `finalize` runs once the image is in the local store. Every type
 * is listed in ./table.ts; the builder knows only these interfaces.
 */
import type { CacheBackend } from "../cache/backend.js";
import type { StepRecord } from "../cache/record.js";
import type { Compression } from "../snapshotter/compression.js";
import type { LayerDescriptor } from "../oci/layer.js";
import type { Descriptor, ImageConfig } from "../oci/schemas.js";
import type { RegistryOptions, RegistrySession } from "../registry/transport.js";
import type { ImageStore } from "../store/image-store.js";

/**
 * An image output, buildx's `-o type=T,key=value,...` as an object. Which fields a type
 * reads is in its table entry (`fields`); the library passes the same object.
 */
export interface OutputSpec {
  /** oci, docker, local, tar, registry or image (see ./table.ts). */
  type: string;
  /** A file, a directory, or "-" for standard output. */
  dest?: string;
  /** type=oci: a tar (default) or, with false, a layout directory. */
  tar?: boolean;
  /** The image's name in the output; for registry and image, where it is pushed or stored. */
  name?: string;
  /** type=image: push the name too. */
  push?: boolean;
}

/** What an exporter may learn before the build, to check its options against. */
export interface ResolveContext {
  /** The names the image will be stored under (`-t`). */
  tags: readonly string[];
  /** How many platforms are built: one gives a manifest, several an index. */
  platforms: number;
  /** Where the build runs its registry calls (`--insecure-registry`, CA, credentials). */
  registry: RegistryOptions | undefined;
  /** How the build's own layers are compressed. */
  compression: Compression;
}

/** The built image, as the exporters' finalize sees it. */
export interface BuiltImage {
  store: ImageStore;
  /** The root descriptor stored: a manifest, or an index over one per platform. */
  descriptor: Descriptor;
  /** Every name it was stored under. */
  tags: readonly string[];
  /** The build's registry session, made on first use. */
  session: () => Promise<RegistrySession>;
  registry: RegistryOptions | undefined;
  /**
   * Step records: every step this build resolved, the keys the final images are made
   * of, the `--cache-from` caches, and the layers of the build's cache mounts (made on
   * first call).
   */
  cache: CacheSteps & { imports: readonly CacheBackend[]; mounts: () => Promise<ReadonlyMap<string, LayerDescriptor>> };
}

export interface CacheSteps {
  used: ReadonlyMap<string, StepRecord>;
  final: readonly string[];
}

/** What an exporter reports while it works: a line of its progress step, with bytes when it moves data. */
export interface ExportProgress {
  status(id: string, name: string, o?: { current?: number; total?: number; done?: boolean }): void;
  warn(message: string): void;
  readonly signal: AbortSignal;
}

/** What finalize did that the caller may show (the CLI prints `pushed REF@DIGEST`). */
export interface ExportReport {
  pushed?: { reference: string; digest: string }[];
}

/** An output whose options were checked, ready to run after the build. */
export interface ResolvedExporter {
  /** Its progress step: `exporting to oci image format out.tar`, `pushing r.example/app:1`. */
  readonly name: string;
  /** The step's kind in progress events. */
  readonly kind: "export" | "cache";
  /** Names the image is stored under besides `-t` (type=image,name=). */
  readonly names?: readonly string[];
  /** A failure is a warning, not a failed build (`--cache-to ...,ignore-error=true`). */
  readonly failureIsWarning?: boolean;
  /** Writes the standard output stream: nothing else may (the CLI then prints no digest there). */
  readonly writesStdout?: boolean;
  /** Changes the image's config before it is stored (inline cache records). */
  configure?(config: ImageConfig, steps: CacheSteps): ImageConfig;
  /** Runs after the image is stored, as one progress step; absent when there is nothing left to do. */
  finalize?(image: BuiltImage, progress: ExportProgress): Promise<ExportReport | void>;
}

/** One output type of the table: the -o fields it reads, and its check before the build. */
export interface OutputType {
  readonly type: string;
  /** The `-o` keys it accepts besides `type`. */
  readonly fields: readonly string[];
  /** An example for errors: `type=oci,dest=image.tar`. */
  readonly example: string;
  resolve(spec: OutputSpec, ctx: ResolveContext): ResolvedExporter | Promise<ResolvedExporter>;
}
