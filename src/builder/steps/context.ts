import type { CacheMounts } from "../../cache/cache-mounts.js";
import type { ContentStore } from "../../content/content.js";
import type { TreeDigests } from "../../cache/tree-digests.js";
import type { FileHashes } from "../../context/file-hashes.js";
import type { IgnoreRules } from "../../context/ignore.js";
import type { Executor } from "../../executor/executor.js";
import type { Compression } from "../../snapshotter/compression.js";
import type { Snapshotter } from "../../snapshotter/snapshotter.js";
import type { Layer, RootfsPreparer } from "../rootfs.js";
import type { SecretSource } from "../run-mounts.js";
import type { ExtraHost } from "../step-files.js";

/**
 * What layer steps may read and call: one small context per step kind, made once per
 * build (sources once per platform) and handed to the step as it is. A step never
 * sees the stage that runs it.
 */

/** Where a step's layer goes: compressed into the content store, timestamps clamped when an epoch is set. */
export interface LayerOutput {
  content: ContentStore;
  compression: Compression;
  sourceDateEpoch: number | undefined;
}

/** The snapshotter, and the executor that runs RUN over its snapshots (chosen together), opened on first use. */
export type RunGround = () => Promise<{ snapshotter: Snapshotter; rootfs: RootfsPreparer; executor: Executor }>;

/** The build context directory and its .dockerignore rules. */
export interface ContextDir {
  dir: string;
  rules: IgnoreRules;
}

/** Another stage's result or an image, as a step reads it: its layers, and its cache key. */
export interface SourceState {
  key: string;
  layers: Layer[];
}

/** What `--from` (COPY) and `--mount from=` (RUN) may name, as BuildKit resolves it: a stage first, else an image. */
export interface Sources {
  /** The result of the stage `ref` names (by name or index), or undefined when it names none. */
  stage(ref: string): Promise<SourceState> | undefined;
  /** An image by reference (the local store, else pulled). */
  image(ref: string): Promise<SourceState>;
  /** The directory of a `--build-context NAME=DIR` (not when `name` is a stage). */
  directory(name: string): string | undefined;
}

/** RUN's settings for the whole build (--network, --add-host, --secret), defaults applied once. */
export interface RunOptions {
  /** RUN's network when the step does not say. */
  network: "default" | "none" | "host";
  /** `--add-host` entries for RUN's /etc/hosts. */
  addHosts: ExtraHost[];
  /** Secrets for `RUN --mount=type=secret`. Never stored in the image or the cache. */
  secrets: Record<string, SecretSource>;
}

/** What every layer step may use. */
export interface StepContext {
  /** The Dockerfile as errors name it (`file:line: ...`). */
  file: string;
  /** The store's root: a full disk is reported against it. */
  storeRoot: string;
  output: LayerOutput;
  snapshots: RunGround;
  /** Aborting stops the step: a running command is killed and its work removed. */
  signal?: AbortSignal;
}

export interface RunStepContext extends StepContext {
  context: ContextDir;
  sources: Sources;
  run: RunOptions;
  /** `RUN --mount=type=cache` ids: their names in the store, and seeding from an imported cache. */
  cacheMounts: Pick<CacheMounts, "name" | "seed">;
}

export interface CopyStepContext extends StepContext {
  context: ContextDir;
  sources: Sources;
  /** Content digests of context files, kept across builds. */
  hashes: FileHashes;
  /** Content digests of COPY --from selections in committed snapshots, kept across builds. */
  treeDigests: TreeDigests;
  /** The build's scratch directory: ADD's downloads go under it. */
  scratchRoot: string;
  /** The Dockerfile's escape character, for heredoc bodies that expand. */
  escape: string;
}

/** Every step's context at once: what a stage holds to hand each step its part. */
export type StepServices = RunStepContext & CopyStepContext;
