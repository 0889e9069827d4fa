import { setMaxListeners } from "node:events";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { CacheLookup } from "../cache/lookup.js";
import { CacheMounts } from "../cache/cache-mounts.js";
import { StepCache } from "../cache/step-cache.js";
import { TreeDigests } from "../cache/tree-digests.js";
import { FileHashes } from "../context/file-hashes.js";
import { readDockerfile } from "../context/dockerfile.js";
import { loadIgnoreRules } from "../context/ignore.js";
import { DiskFullError } from "../disk-full.js";
import { AbortError, isAbortError, isTbuildError, TbuildError } from "../errors.js";
import { digestOf, type Descriptor, type ImageConfig } from "../oci/index.js";
import { parseSyntax, planStages, PROXY_ARGS, type BuildPlan, type Dockerfile, type ParseOptions, type Stage } from "../parser/index.js";
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from "../oci/platform.js";
import type { RegistryOptions, RegistrySession } from "../registry/transport.js";
import { openImports } from "../cache/open.js";
import { parseCacheExport, parseCacheImport, type CacheExportSpec, type CacheImportSpec } from "../cache/spec.js";
import { formatReference, parseReference } from "../oci/reference.js";
import type { Compression } from "../snapshotter/compression.js";
import { sourceDateEpochFromEnv } from "../snapshotter/differ.js";
import { openSnapshotter, type Driver, type Snapshotter } from "../snapshotter/snapshotter.js";
import { checkUserNamespaces } from "../userns/namespace.js";
import type { ContentStore } from "../content/content.js";
import type { Executor } from "../executor/executor.js";
import type { BuiltImage, OutputSpec, ResolvedExporter } from "../exporter/exporter.js";
import { annotationsFor, parseAnnotations, type ImageAnnotations } from "../exporter/annotations.js";
import { resolveExporters } from "../exporter/table.js";
import { openStore, type ImageStore } from "../store/image-store.js";
import { Lease } from "../store/lease.js";
import { ownerTag } from "../pid.js";
import { RootfsPreparer } from "./rootfs.js";
import { openExecutor, type Isolation } from "../executor/select.js";
import { atLine } from "./steps/common.js";
import type { SecretSource } from "./run-mounts.js";
import type { BuildEvent } from "../events.js";
import { Progress } from "./progress.js";
import { runStage, type ImageState, type StageCache, type StageEnv } from "./stage.js";
import type { RunGround, Sources, StepServices } from "./steps/context.js";
import type { ExtraHost } from "./step-files.js";
import { hasBlob } from "../content/blob-io.js";

export type { BuildEvent } from "../events.js";

export interface BuildOptions {
  /** The build context directory. */
  context: string;
  /** Path of the Dockerfile; default `<context>/Dockerfile`. */
  file?: string;
  /** Dockerfile text, instead of reading `file`. */
  dockerfile?: string;
  /** Names to tag the result with in the local store. */
  tags?: string[];
  target?: string;
  buildArgs?: Record<string, string>;
  /** RUN's network unless a step says otherwise: default (the host's, shared), none or host. */
  network?: "default" | "none" | "host";
  /** `--add-host` entries for RUN's /etc/hosts. */
  addHosts?: ExtraHost[];
  /** Secrets for `RUN --mount=type=secret,id=ID`: a file or an environment variable. Never stored in the image or the cache. */
  secrets?: Record<string, SecretSource>;
  /** `os/arch[/variant]` to build for; default the host's. */
  platform?: string;
  /** The local store's root; default $TBUILD_ROOT or ~/.local/share/tbuild. */
  root?: string;
  snapshotter?: Driver | "auto";
  /**
   * How RUN steps are isolated: namespaces, or chroot (root in a container that allows
   * no namespaces, which is then the boundary); "auto" (default) probes.
   */
  isolation?: Isolation;
  /** Ignore the build cache (results are still recorded in it). */
  noCache?: boolean;
  /** Report why each step missed (`cache-miss` events), against every configured cache. */
  explainCache?: boolean;
  /** Check the registry for a newer base image even when one is stored. */
  pull?: boolean;
  compression?: Compression;
  /** Clamp timestamps to this (seconds since the epoch); default SOURCE_DATE_EPOCH. */
  sourceDateEpoch?: number;
  /** Extra labels for the final image. */
  labels?: Record<string, string>;
  /**
   * Where else the result goes (`tbuild build --output`, `--push`, `--load`): files,
   * directories, registries, a docker daemon; see src/exporter/table.ts. Checked before
   * any step runs, written after the image is stored.
   */
  outputs?: OutputSpec[];
  /** buildx's `--annotation [TYPE:]KEY=VALUE` (manifest by default; index and manifest-descriptor for several platforms). */
  annotations?: string[];
  /** Stages whose steps are not taken from the cache (`--no-cache-filter`); other stages' are. */
  noCacheFilter?: string[];
  /** Stages run at once. */
  jobs?: number;
  registry?: RegistryOptions;
  /**
   * Named contexts (`--build-context NAME=VALUE`): a directory, for COPY --from=NAME,
   * or `docker-image://REF`, which FROM NAME and COPY --from=NAME then use instead.
   */
  contexts?: Record<string, string>;
  /** Caches to reuse steps from (`--cache-from`), asked in order after the local one; a string is a registry ref. */
  cacheFrom?: (string | CacheImportSpec)[];
  /** Where to export this build's step records (`--cache-to`), for other machines; a string is a registry ref. */
  cacheTo?: string | CacheExportSpec | CacheExportSpec[];
  /** Progress, as the events documented in src/events.ts (the CLI renders only these). */
  onEvent?: (event: BuildEvent) => void;
  /**
   * Aborting cancels the build: running RUN commands are killed (their whole process
   * tree), transfers stop, working snapshots and temporary files are removed, and
   * build() rejects with an AbortError. What was cached before stays valid.
   */
  signal?: AbortSignal;
}

export interface BuildResult {
  /** The image manifest's descriptor in the local store. */
  descriptor: Descriptor;
  config: ImageConfig;
  /** Digest of the (first) image's config blob: what `docker images` calls the image ID. */
  configDigest: string;
  tags: string[];
  /** One manifest per platform built; `descriptor` is their index when there are several. */
  images: Descriptor[];
  /** What the registry outputs pushed: each reference and the digest it now serves. */
  pushed: { reference: string; digest: string }[];
}

function stripPlatform(d: Descriptor): Descriptor {
  const { platform: _platform, ...rest } = d;
  return rest;
}

/** The build's registry session, made on first use: a build that never talks to a registry never loads the client. */
type SessionSource = () => Promise<RegistrySession>;

/** A base image for FROM: the local store first, the registry when missing (or with --pull). */
async function baseImage(store: ImageStore, lease: Lease, ref: string, o: BuildOptions, platform: string, session: SessionSource, progress: Progress): Promise<ImageState> {
  if (!o.pull) {
    let found;
    try {
      found = await store.resolve(ref, { platform: parsePlatform(platform) });
    } catch (e) {
      if (!isTbuildError(e, "not-found")) throw e;
    }
    // Leased before use; an image whose blobs a prune took meanwhile is pulled again.
    if (found !== undefined && (await holdImage(store, lease, found))) {
      checkPlatform(ref, found.config, platform);
      return stateOf(found);
    }
  }
  const step = progress.start({ name: `pulling ${formatReference(parseReference(ref))}`, type: "pull" });
  try {
    const { pullImage } = await import("../store/registry-transfer.js");
    await pullImage(ref, {
      ...(o.registry ?? {}),
      store,
      platform,
      session: await session(),
      onProgress: (e) => {
        if (e.kind === "blob") step.status(e.digest, e.outcome === "present" ? `${e.digest} already stored` : e.digest, { current: e.size, total: e.size, done: true });
      },
      onBytes: (e) => step.status(e.digest, e.digest, { current: Math.min(e.bytes, e.size), total: e.size }),
    }).catch((e: unknown) => {
      throw e instanceof TbuildError ? new TbuildError(e.category, `pulling ${ref}: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint }) : e;
    });
    const pulled = await store.resolve(ref, { platform: parsePlatform(platform) });
    await holdImage(store, lease, pulled);
    checkPlatform(ref, pulled.config, platform);
    step.done();
    return { ...stateOf(pulled), pulled: true };
  } catch (e) {
    if (o.registry?.signal?.aborted === true) step.canceled();
    else step.fail(e instanceof Error ? e.message : String(e));
    throw e;
  }
}

function holdImage(store: ImageStore, lease: Lease, image: { manifestDescriptor: Descriptor; manifest: { config: Descriptor; layers: Descriptor[] } }): Promise<boolean> {
  return lease.holdBlobs([image.manifestDescriptor, image.manifest.config, ...image.manifest.layers], (d) => hasBlob(store.content, d));
}

/** Tags are names to store the result under: a bad one is refused before any step runs, not after the build. */
function checkTags(tags: string[]): void {
  for (const tag of tags) {
    if (parseReference(tag).digest !== undefined) {
      throw new TbuildError("invalid-argument", `cannot tag the image as '${tag}': a tag may not contain a digest`, { hint: "give -t NAME[:TAG], e.g. -t app:1.2" });
    }
  }
}

/** A base image must be for the platform asked: an amd64-only image cannot stand in for arm64. */
function checkPlatform(ref: string, config: ImageConfig, platform: string): void {
  const want = parsePlatform(platform);
  const have = { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) };
  if (!platformMatches(want, have)) {
    throw new TbuildError("not-found", `${ref} is an image for ${formatPlatform(have)}, not ${platform}`, {
      hint: `pull the ${platform} image (tbuild pull --platform ${platform} ${ref}), or build for ${formatPlatform(have)}`,
    });
  }
}

function stateOf(image: { manifestDescriptor: Descriptor; manifest: { layers: Descriptor[] }; config: ImageConfig }): ImageState {
  const diffIDs = image.config.rootfs.diff_ids;
  if (diffIDs.length !== image.manifest.layers.length) {
    throw new TbuildError("failed-precondition", `image ${image.manifestDescriptor.digest} has ${image.manifest.layers.length} layers but its config lists ${diffIDs.length}`);
  }
  return {
    config: image.config,
    layers: image.manifest.layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffID: diffIDs[i]! })),
    key: image.manifestDescriptor.digest,
    steps: [],
  };
}

function scratchState(platform: string): ImageState {
  const p = parsePlatform(platform);
  return {
    config: { architecture: p.architecture, os: p.os, ...(p.variant === undefined ? {} : { variant: p.variant }), rootfs: { type: "layers", diff_ids: [] }, config: {} },
    layers: [],
    key: `scratch:${platform}`,
    steps: [],
  };
}

/** What every platform's build shares: the store, caches, registry session and scratch space. */
interface Shared {
  o: BuildOptions;
  base: (name: string, platform: string) => Promise<ImageState>;
  /** What steps may use, but the sources (stages and images of one platform). */
  steps: Omit<StepServices, "sources">;
  /** What stages read, but this platform's ARG values and label. */
  stage: Omit<StageEnv, "steps" | "args" | "label">;
  /** The directory of a `--build-context NAME=DIR`. */
  namedContextDir: (name: string) => string | undefined;
  /** Stops every stage still running (after one failed). */
  cancel: () => void;
}

/** The target stage built for one platform, by its plan (the parse every platform shares, resolved for this one). */
async function buildFor(platform: string, parsed: BuildPlan, shared: Shared, label: string): Promise<ImageState> {
  const { o, base } = shared;
  // Base images first, all at once. One that cannot be had (a failed pull, another
  // platform) is reported at its FROM line.
  await Promise.all(
    parsed.stages
      .filter((s) => s.baseStage === null)
      .map((s) =>
        base(s.base, s.platform ?? platform).catch((e: unknown) => {
          throw e instanceof TbuildError ? atLine(parsed.file, s.lines[0], e) : e;
        }),
      ),
  );
  const byIndex = new Map(parsed.stages.map((s) => [s.index, s]));
  const results = new Map<number, Promise<ImageState>>();
  const limit = pLimit(o.jobs ?? 4);
  const stageIndex = (ref: string): number | undefined => parsed.stages.find((s) => s.name === ref.toLowerCase())?.index ?? (/^\d+$/.test(ref) ? Number(ref) : undefined);
  const sources: Sources = {
    stage: (ref) => {
      const index = stageIndex(ref);
      return index === undefined ? undefined : runOnce(index);
    },
    image: (ref) => base(ref, platform),
    directory: (name) => (stageIndex(name) === undefined ? shared.namedContextDir(name) : undefined),
  };
  const env: StageEnv = { ...shared.stage, steps: { ...shared.steps, sources }, args: parsed.args, label };
  // Dependencies are awaited outside the concurrency limit, so a waiting stage never holds a slot.
  const runOnce = (index: number): Promise<ImageState> => {
    let p = results.get(index);
    if (p === undefined) {
      const stage = byIndex.get(index);
      if (stage === undefined) throw new TbuildError("internal", `stage ${index} is not part of this build`);
      // --no-cache-filter: this stage's steps are not taken from the cache (still recorded).
      const stageEnv: StageEnv = stage.name !== null && (o.noCacheFilter ?? []).includes(stage.name) ? { ...env, cache: { ...env.cache, skip: true } } : env;
      p = startingState(stage).then((start) => limit(() => runStage(stage, start, stageEnv)));
      results.set(index, p);
    }
    return p;
  };
  const startingState = async (stage: Stage): Promise<ImageState> => {
    await Promise.all(stage.dependsOn.filter((d) => d !== stage.baseStage).map((d) => runOnce(d)));
    return stage.baseStage !== null ? runOnce(stage.baseStage) : base(stage.base, stage.platform ?? platform);
  };
  try {
    return await runOnce(parsed.target);
  } catch (e) {
    // As BuildKit: one failure cancels the rest, and the build ends only once every
    // stage has stopped and cleaned up after itself.
    shared.cancel();
    await Promise.allSettled(results.values());
    throw e;
  }
}

/**
 * The executor and the snapshotter for this build, chosen together: the chroot
 * executor works only on the native snapshotter's plain directories.
 */
async function openRunGround(o: BuildOptions, root: string, content: ContentStore, lease: Lease, progress: Progress): Promise<{ snapshotter: Snapshotter; rootfs: RootfsPreparer; executor: Executor }> {
  const executor = await openExecutor(o.isolation ?? "auto", (message) => progress.warn(message));
  if (executor.isolation === "chroot" && o.snapshotter === "overlay") {
    throw new TbuildError("invalid-argument", "--snapshotter overlay needs mounts, which --isolation=chroot does without", { hint: "use --snapshotter native (or auto)" });
  }
  const snapshotter = await openSnapshotter({ root, driver: executor.isolation === "chroot" ? "native" : (o.snapshotter ?? "auto") });
  return { snapshotter, rootfs: new RootfsPreparer(snapshotter, content, lease), executor };
}

/**
 * Builds a Dockerfile into the local store: stages run in dependency order (those
 * that do not depend on each other at once), each step cached by content; the
 * target stage becomes an image tagged with `tags` (for several platforms, an
 * index over one image each), then written to `outputs`.
 */
export async function build(o: BuildOptions): Promise<BuildResult> {
  if (o.signal?.aborted === true) throw new AbortError();
  // The build's own signal: the caller's abort, or the first failure, stops everything.
  const controller = new AbortController();
  // Every running step and registry transfer listens on it: more than Node's warning
  // threshold of 10 is normal here, not a leak.
  setMaxListeners(0, controller.signal);
  const stop = (): void => controller.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", stop, { once: true });
  try {
    return await buildUntilStopped({ ...o, registry: { ...(o.registry ?? {}), signal: controller.signal } }, controller);
  } catch (e) {
    // Checked again: the narrowing above does not see the abort that happened meanwhile.
    if ((o.signal as AbortSignal | undefined)?.aborted === true) throw isAbortError(e) ? e : new AbortError(undefined, { cause: e });
    throw e;
  } finally {
    o.signal?.removeEventListener("abort", stop);
  }
}

async function buildUntilStopped(o: BuildOptions, controller: AbortController): Promise<BuildResult> {
  const contextDir = path.resolve(o.context);
  const file = o.file ?? path.join(contextDir, "Dockerfile");
  const text = o.dockerfile ?? (await readDockerfile(file, contextDir));
  const platforms = (o.platform ?? formatPlatform(hostPlatform())).split(",").map((p) => formatPlatform(parsePlatform(p.trim())));
  const shown = path.relative(process.cwd(), file);
  const parseOptions = { file: shown === "" || shown.startsWith("..") ? file : shown, buildArgs: o.buildArgs ?? {}, ...(o.target === undefined ? {} : { target: o.target }) };
  // Parsed once; each platform's plan resolves it for that platform's ARGs.
  const dockerfile = parseSyntax(text, { file: parseOptions.file });
  const outline = planStages(dockerfile, { ...parseOptions, platform: platforms[0]! }).plan;
  // Cache options are checked before anything is pulled or run.
  const cacheFrom = (o.cacheFrom ?? []).map((c) => (typeof c === "string" ? parseCacheImport(c) : c));
  const cacheTo = (o.cacheTo === undefined ? [] : Array.isArray(o.cacheTo) ? o.cacheTo : [o.cacheTo]).map((c) => (typeof c === "string" ? parseCacheExport(c) : c));
  // So are outputs, pushes and annotations: a bad one fails before any step runs.
  const exporters = await resolveExporters(o.outputs ?? [], cacheTo, { tags: o.tags ?? [], platforms: platforms.length, registry: o.registry, compression: o.compression ?? "gzip" });
  const tags = [...new Set([...(o.tags ?? []), ...exporters.flatMap((e) => e.names ?? [])])];
  checkTags(tags);
  const annotations = parseAnnotations(o.annotations ?? [], platforms.length);
  const store = await openStore(o.root);
  // Held until the image is stored and exported: prune leaves what this build uses (store/lease.ts).
  const lease = await Lease.open(store.root, "build");
  try {
    return await buildInStore(o, { store, lease, contextDir, text, dockerfile, platforms, parseOptions, outline, cacheFrom, exporters, tags, annotations }, controller);
  } finally {
    await lease.release();
  }
}

interface Parsed {
  store: ImageStore;
  lease: Lease;
  contextDir: string;
  text: string;
  dockerfile: Dockerfile;
  platforms: string[];
  parseOptions: ParseOptions & { file: string };
  /** The plan for the first platform. */
  outline: BuildPlan;
  cacheFrom: CacheImportSpec[];
  /** Outputs and cache exports, resolved. */
  exporters: ResolvedExporter[];
  /** `-t` names and those the outputs add. */
  tags: string[];
  annotations: ImageAnnotations;
}

async function buildInStore(o: BuildOptions, { store, lease, contextDir, text, dockerfile, platforms, parseOptions, outline, cacheFrom, exporters, tags, annotations }: Parsed, controller: AbortController): Promise<BuildResult> {
  const signal = controller.signal;
  const progress = new Progress(o.onEvent ?? (() => undefined));
  // Without root, RUN and base image layers need a user namespace: learn at once whether
  // one can be made here (with what to do if not), rather than after the first steps.
  const runs = outline.stages.some((st) => st.instructions.some((i) => i.keyword === "RUN"));
  if (o.isolation !== "chroot" && (runs || outline.stages.some((st) => st.baseStage === null && st.base !== "scratch"))) {
    await checkUserNamespaces({ forRun: runs });
  }
  for (const w of outline.warnings) progress.warn(`${parseOptions.file}:${w.line}: ${w.message} (Docker will make this an error)`);
  const declared = new Set([...outline.metaArgs.map((a) => a.key), ...outline.stages.flatMap((st) => st.instructions.flatMap((i) => (i.keyword === "ARG" ? i.args.args.map((a) => a.key) : [])))]);
  const unused = Object.keys(o.buildArgs ?? {}).filter((k) => !declared.has(k) && !PROXY_ARGS.includes(k));
  if (unused.length > 0) progress.warn(`build-args were not consumed: ${unused.join(", ")} (no ARG declares them)`);
  const unknownFilter = (o.noCacheFilter ?? []).filter((name) => !outline.stages.some((st) => st.name === name.toLowerCase()));
  if (unknownFilter.length > 0) progress.warn(`--no-cache-filter: no stage is named ${unknownFilter.join(", ")}`);
  const syntax = outline.directives.syntax;
  if (syntax !== undefined && !/^(docker\.io\/)?docker\/dockerfile(-upstream)?:1([.-]|$)/.test(syntax)) {
    progress.warn(`# syntax=${syntax} is ignored: tbuild parses Dockerfiles itself and runs no frontend image`);
  }
  // One session per build: registry connections and tokens are shared by pulls and caches.
  let registrySession: Promise<RegistrySession> | undefined;
  const session: SessionSource = () => (registrySession ??= import("../registry/transport.js").then((m) => new m.RegistrySession(o.registry)));
  const cacheOpen = { store, registry: o.registry, session };
  const imports = await openImports(cacheFrom, cacheOpen, (message) => progress.warn(message));

  const bases = new Map<string, Promise<ImageState>>();
  const contexts = o.contexts ?? {};
  const base = (name: string, stagePlatform: string): Promise<ImageState> => {
    const named = contexts[name];
    if (named !== undefined && !named.startsWith("docker-image://")) {
      throw new TbuildError("not-implemented", `FROM ${name}: the build context '${name}' is a directory, and FROM of a directory is not implemented`, {
        hint: `use it with COPY --from=${name}, or give --build-context ${name}=docker-image://REF`,
      });
    }
    const ref = named === undefined ? name : named.slice("docker-image://".length);
    const id = `${ref}\0${stagePlatform}`;
    let p = bases.get(id);
    if (p === undefined) {
      p = ref === "scratch" ? Promise.resolve(scratchState(stagePlatform)) : baseImage(store, lease, ref, o, stagePlatform, session, progress);
      bases.set(id, p);
    }
    return p;
  };

  const scratchRoot = path.join(store.root, "tmp");
  // RUN trees are mounted under it: no other local user may enter (stores made by older versions were 0755).
  await mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  await chmod(scratchRoot, 0o700);
  // The owner (pid and start time) in the name tells `tbuild prune` whether this build still runs.
  const buildScratch = await mkdtemp(path.join(scratchRoot, `build-${ownerTag()}-`));
  let snapshots: ReturnType<RunGround> | undefined;
  const hashes = await FileHashes.load(path.join(store.root, "cache", "context-hashes.json"), (abs) => abs.startsWith(scratchRoot + path.sep));
  const cacheMounts = new CacheMounts(store.root, store.content, imports, lease, (message) => progress.warn(message));
  const cache: StageCache = {
    lookup: new CacheLookup(new StepCache(store.root), imports, (message) => progress.warn(message)),
    skip: o.noCache ?? false,
    explain: o.explainCache ?? false,
    used: new Map(),
    lease,
  };
  const steps: Shared["steps"] = {
    file: parseOptions.file,
    storeRoot: store.root,
    output: { content: store.content, compression: o.compression ?? "gzip", sourceDateEpoch: o.sourceDateEpoch ?? sourceDateEpochFromEnv() },
    snapshots: () => (snapshots ??= openRunGround(o, path.join(store.root, "snapshotter"), store.content, lease, progress)),
    signal,
    context: { dir: contextDir, rules: await loadIgnoreRules(contextDir, o.file) },
    run: { network: o.network ?? "default", addHosts: o.addHosts ?? [], secrets: o.secrets ?? {} },
    cacheMounts,
    hashes,
    treeDigests: new TreeDigests(store.root),
    scratchRoot: buildScratch,
    escape: dockerfile.directives.escape,
  };
  const namedContextDir = (name: string): string | undefined => {
    const value = contexts[name];
    return value === undefined || value.startsWith("docker-image://") ? undefined : path.resolve(value);
  };
  const stage: Shared["stage"] = { cache, source: text, singleStage: outline.stages.length === 1, progress };
  const shared: Shared = { o, base, steps, stage, namedContextDir, cancel: () => controller.abort() };
  const images: { platform: string; state: ImageState }[] = [];
  let failed = false;
  try {
    for (const platform of platforms) {
      const forPlatform = platform === platforms[0] ? outline : planStages(dockerfile, { ...parseOptions, platform }).plan;
      images.push({ platform, state: await buildFor(platform, forPlatform, shared, platforms.length > 1 ? `${platform} ` : "") });
    }
  } catch (e) {
    failed = true;
    throw e instanceof DiskFullError ? e.under(store.root) : e;
  } finally {
    await rm(buildScratch, { recursive: true, force: true });
    // Remembered hashes only save work; failing to save them (a full disk) must not hide why the build failed.
    await hashes.save().catch((e: unknown) => {
      if (!failed) throw e;
    });
  }

  signal.throwIfAborted();
  const stored: { desc: Descriptor; config: ImageConfig; configDigest: string }[] = [];
  for (const { platform, state } of images) {
    const labelled: ImageConfig = o.labels === undefined ? state.config : { ...state.config, config: { ...state.config.config, Labels: { ...(state.config.config?.Labels ?? {}), ...o.labels } } };
    const config = exporters.reduce((c, e) => e.configure?.(c, { used: cache.used, final: state.steps }) ?? c, labelled);
    // Serialised once here, so the digest reported is the one of the bytes stored.
    const configBytes = Buffer.from(JSON.stringify(config));
    const manifestAnnotations = annotationsFor(annotations.manifest, platform);
    const desc = await store.putImage({
      config: configBytes,
      layers: state.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
      ...(manifestAnnotations === undefined ? {} : { annotations: manifestAnnotations }),
      ...(tags.length > 0 && images.length === 1 ? { name: tags } : {}),
    });
    const { os, architecture, variant } = state.config;
    const descriptorAnnotations = annotationsFor(annotations.manifestDescriptor, platform);
    stored.push({
      desc: { ...desc, platform: { os, architecture, ...(variant === undefined ? {} : { variant }) }, ...(descriptorAnnotations === undefined ? {} : { annotations: descriptorAnnotations }) },
      config,
      configDigest: digestOf(configBytes),
    });
  }
  const manifests = stored.map((s) => s.desc);
  const descriptor =
    stored.length === 1
      ? stripPlatform(manifests[0]!)
      : await store.putIndex({ manifests, ...(tags.length > 0 ? { name: tags } : {}), ...(Object.keys(annotations.index).length > 0 ? { annotations: annotations.index } : {}) });
  const { config, configDigest } = stored[0]!;
  let mountLayers: ReturnType<CacheMounts["export"]> | undefined;
  const built: BuiltImage = {
    store,
    descriptor,
    tags,
    session,
    registry: o.registry,
    cache: {
      used: cache.used,
      final: images.flatMap((i) => i.state.steps),
      imports,
      // Made once for every --cache-to with cache-mounts=true.
      mounts: () => (mountLayers ??= cacheMounts.export()),
    },
  };
  return { descriptor, config, configDigest, tags, images: manifests, pushed: await runExporters(exporters, built, progress, signal) };
}

/** Each output's finalize as one progress step, in order; returns what was pushed. */
async function runExporters(exporters: readonly ResolvedExporter[], built: BuiltImage, progress: Progress, signal: AbortSignal): Promise<BuildResult["pushed"]> {
  const pushed: BuildResult["pushed"] = [];
  for (const exporter of exporters) {
    if (exporter.finalize === undefined) continue;
    signal.throwIfAborted();
    const step = progress.start({ name: exporter.name, type: exporter.kind });
    try {
      const report = await exporter.finalize(built, { status: (id, name, s) => step.status(id, name, s), warn: (message) => progress.warn(message, step.id), signal });
      pushed.push(...(report?.pushed ?? []));
      step.done();
    } catch (e) {
      if (signal.aborted) step.canceled();
      else step.fail(e instanceof Error ? e.message : String(e));
      if (signal.aborted || exporter.failureIsWarning !== true || !(e instanceof TbuildError)) throw e;
      progress.warn(`${exporter.name} failed (ignore-error=true): ${e.message}`);
    }
  }
  return pushed;
}
