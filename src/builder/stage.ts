import { randomBytes } from "node:crypto";
import { lstat, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import type { ContentStore } from "../cache/content-store.js";
import type { RemoteCache } from "../cache/remote-cache.js";
import { stepKey, type StepCache, type StepRecord } from "../cache/step-cache.js";
import type { IgnoreRules } from "../context/ignore.js";
import { resolveSources } from "../context/sources.js";
import { isTbuildError, TbuildError } from "../errors.js";
import type { ContainerConfig, History, ImageConfig, Platform } from "../oci/index.js";
import { formatPlatform, hostPlatform } from "../oci/platform.js";
import { expandWord, type Instruction, type Stage } from "../parser/index.js";
import type { Change } from "../snapshotter/changes.js";
import type { Compression } from "../snapshotter/compression.js";
import { storeLayer, writeLayerTar } from "../snapshotter/differ.js";
import type { Snapshotter } from "../snapshotter/snapshotter.js";
import { archiveUnder, isLocalArchive } from "./add-archive.js";
import { download, isUrl } from "./download.js";
import { fileDigest, heredocSources, planCopy, planMkdir, type CopyPlan } from "./copy.js";
import { applyMetadata, commandArgv, DEFAULT_PATH, DEFAULT_SHELL, envToMap, resolveWorkdir } from "./image-config.js";
import { chainIds, MergedView, type Layer, type RootfsPreparer } from "./rootfs.js";
import { mountKey, prepareMounts, withLocks, type SecretSource } from "./run-mounts.js";
import { runInSnapshot } from "./run.js";
import { imageIdsOf, resolveIds, type Ids } from "./users.js";
import { resolveViewSources } from "./view-sources.js";

/** An image as a stage sees it: its config and layers, and the cache key of its last step. */
export interface ImageState {
  config: ImageConfig;
  layers: Layer[];
  /** Cache key after the last step (for a base image: its manifest digest). */
  key: string;
}

/** Progress a build reports, for the CLI to render. */
export type BuildEvent =
  | { kind: "step"; stage: string; step: number; steps: number; text: string; cached: boolean }
  | { kind: "output"; stage: string; stream: "stdout" | "stderr"; chunk: Buffer }
  | { kind: "stage-done"; stage: string; layers: number }
  | { kind: "pull"; ref: string }
  | { kind: "warning"; message: string }
  | { kind: "cache-export"; ref: string; records: number; layers: number };

/** What every stage of one build shares. */
export interface StageEnv {
  file: string;
  contextDir: string;
  rules: IgnoreRules;
  content: ContentStore;
  cache: StepCache;
  noCache: boolean;
  compression: Compression;
  sourceDateEpoch: number | undefined;
  escape: string;
  buildArgs: Record<string, string>;
  secrets: Record<string, SecretSource>;
  /** Registry caches (--cache-from) consulted when the local cache misses. */
  remoteCaches: RemoteCache[];
  /** Every layer step this build resolved, by key, for --cache-to. */
  usedSteps: Map<string, StepRecord>;
  storeRoot: string;
  scratchRoot: string;
  snapshots: () => Promise<{ snapshotter: Snapshotter; rootfs: RootfsPreparer }>;
  /** The final state of another stage (for COPY --from=<stage>). */
  stageResult: (index: number) => Promise<ImageState>;
  /** The state of an image named in COPY --from=<image>. */
  imageState: (ref: string) => Promise<ImageState>;
  stageIndex: (ref: string) => number | undefined;
  /** The instructions of a base image's ONBUILD triggers, parsed against its environment. */
  onbuild: (triggers: string[], base: ImageState) => Instruction[];
  onEvent: (e: BuildEvent) => void;
}

const EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/** An instruction as progress and history show it: URLs in ADD lose their user:password (BuildKit's CVE-2023-26054). */
function shownText(instruction: Instruction): string {
  return instruction.keyword === "ADD" ? instruction.original.replace(/\b(https?:\/\/)[^\s/@]+@/gi, "$1") : instruction.original;
}

function stageLabel(stage: Stage): string {
  return stage.name ?? `stage-${stage.index}`;
}

function located(env: StageEnv, instruction: Instruction, message: string, hint?: string): TbuildError {
  return new TbuildError("failed-precondition", `${env.file}:${instruction.lines[0]}: ${message}`, hint === undefined ? {} : { hint });
}

/**
 * Executes one stage's instructions on top of `base`: metadata instructions change
 * the config, RUN/COPY/ADD/WORKDIR add layers. Each layer step is looked up in the
 * build cache by a key over its parent key and inputs; on a miss it runs and is
 * recorded.
 */
export async function runStage(stage: Stage, base: ImageState, env: StageEnv): Promise<ImageState> {
  const label = stageLabel(stage);
  let config: ImageConfig = structuredClone(base.config);
  let container: ContainerConfig = config.config ?? {};
  // As BuildKit: an image without PATH gets the default one, so RUN and the final image agree.
  if (!envToMap(container.Env).has("PATH")) container = { ...container, Env: [`PATH=${DEFAULT_PATH}`, ...(container.Env ?? [])] };
  // The base image's ONBUILD triggers run first, and are consumed: they do not pass to this image.
  const triggers = container.OnBuild ?? [];
  const instructions = [...(triggers.length > 0 ? env.onbuild(triggers, base) : []), ...stage.instructions];
  if (triggers.length > 0) container = { ...container, OnBuild: null };
  const layers = [...base.layers];
  const history: History[] = [...(config.history ?? [])];
  const inherited = history.length;
  let key = base.key;
  let cmdInherited = true;
  /** ARGs declared so far in this stage, with their values: RUN sees them as environment. */
  const args = new Map<string, string>();
  // Times come from when a step first ran (kept in the cache), so a rebuild where every
  // step hits gives the very same image digest; SOURCE_DATE_EPOCH pins them all.
  const buildTime = new Date((env.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1000).toISOString();
  let latest = env.sourceDateEpoch === undefined ? config.created : undefined;
  const scratch = await mkdtemp(path.join(env.scratchRoot, `${label}-`));

  const record = (instruction: Instruction, layer: Layer | null, created = latest): void => {
    history.push({ ...(created === undefined ? {} : { created }), created_by: shownText(instruction), comment: "tbuild", ...(layer === null ? { empty_layer: true } : {}) });
    if (layer !== null) layers.push(layer);
  };

  try {
    for (const [i, instruction] of instructions.entries()) {
      const step = { kind: "step" as const, stage: label, step: i + 1, steps: instructions.length, text: shownText(instruction) };
      switch (instruction.keyword) {
        case "ARG":
          for (const a of instruction.args.args) {
            const value = env.buildArgs[a.key] ?? a.value ?? undefined;
            if (value !== undefined) args.set(a.key, value);
          }
          key = stepKey(key, { arg: instruction.args.args.map((a) => [a.key, args.get(a.key) ?? null]) });
          env.onEvent({ ...step, cached: false });
          continue;
        case "RUN":
        case "COPY":
        case "ADD":
        case "WORKDIR": {
          if (instruction.keyword === "WORKDIR") {
            container = applyMetadata(container, instruction, cmdInherited);
          }
          const state = { platform: { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) }, container, layers, args };
          const inputs = await stepInputs(instruction, state, env);
          const nextKey = stepKey(key, inputs.key);
          const cached = env.noCache ? undefined : await cachedStep(nextKey, env);
          let result: StepRecord;
          if (cached !== undefined) {
            env.onEvent({ ...step, cached: true });
            result = cached;
          } else {
            env.onEvent({ ...step, cached: false });
            result = { layer: await inputs.execute(scratch), created: buildTime };
            await env.cache.put(nextKey, result);
          }
          env.usedSteps.set(nextKey, result);
          latest = env.sourceDateEpoch === undefined ? (result.created ?? buildTime) : buildTime;
          record(instruction, result.layer, latest);
          key = nextKey;
          continue;
        }
        default:
          container = applyMetadata(container, instruction, cmdInherited);
          if (instruction.keyword === "CMD") cmdInherited = false;
          key = stepKey(key, { meta: instruction.original, args: instruction.args, flags: instruction.flags });
          record(instruction, null);
          env.onEvent({ ...step, cached: false });
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  // Metadata lines before the first layer step (on scratch) take that step's time.
  let next = latest ?? buildTime;
  for (let i = history.length - 1; i >= inherited; i--) {
    const entry = history[i]!;
    if (entry.created === undefined) history[i] = { ...entry, created: next };
    else next = entry.created;
  }
  config = {
    ...config,
    created: latest ?? buildTime,
    config: container,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) },
    history,
  };
  env.onEvent({ kind: "stage-done", stage: label, layers: layers.length });
  return { config, layers, key };
}

/**
 * A step's result from the local cache (when its layer is still stored), else from a
 * registry cache (its layer downloaded and verified, then recorded locally so the
 * next build needs no network).
 */
async function cachedStep(key: string, env: StageEnv): Promise<StepRecord | undefined> {
  const local = await env.cache.get(key);
  if (local !== undefined && (local.layer === null || (await env.content.has(local.layer.digest)))) return local;
  for (const remote of env.remoteCaches) {
    const found = remote.lookup(key);
    if (found === undefined) continue;
    if (found.layer !== null) {
      try {
        await remote.ensureLayer(found.layer);
      } catch (e) {
        if (isTbuildError(e, "not-found")) continue;
        throw e;
      }
    }
    await env.cache.put(key, found);
    return found;
  }
  return undefined;
}

interface StepState {
  /** The image's own platform: RUN can only execute what this machine's CPU runs. */
  platform: Platform;
  container: ContainerConfig;
  layers: Layer[];
  args: Map<string, string>;
}

/** A layer step's cache inputs and how to produce its layer on a miss. */
async function stepInputs(
  instruction: Instruction,
  state: StepState,
  env: StageEnv,
): Promise<{ key: unknown; execute: (scratch: string) => Promise<Layer | null> }> {
  switch (instruction.keyword) {
    case "RUN":
      return runStep(instruction, state, env);
    case "COPY":
    case "ADD":
      return copyStep(instruction, state, env);
    case "WORKDIR":
      return workdirStep(state, env);
    default:
      throw new TbuildError("internal", `${instruction.keyword} is not a layer step`);
  }
}

/** A tar of `changes` compressed into the content store; null when there is nothing in it. */
async function layerFromChanges(changes: Change[], env: StageEnv): Promise<Layer | null> {
  if (changes.length === 0) return null;
  const tar = new PassThrough();
  const writing = writeLayerTar(
    (async function* () {
      yield* changes;
    })(),
    tar,
    env.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: env.sourceDateEpoch },
  );
  const [layer] = await Promise.all([storeLayer(tar, env.content, env.compression), writing]);
  return layer;
}

/** A read-only view of the filesystem at `layers`, for lookups (dest directories, /etc/passwd). */
async function withView<T>(layers: Layer[], env: StageEnv, fn: (view: MergedView) => Promise<T>): Promise<T> {
  if (layers.length === 0) return fn(new MergedView([]));
  const { snapshotter, rootfs } = await env.snapshots();
  const top = await rootfs.ensure(layers);
  const key = `view-${randomBytes(6).toString("hex")}`;
  const mounts = await snapshotter.view(key, top);
  try {
    return await fn(MergedView.fromMounts(mounts));
  } finally {
    await snapshotter.remove(key);
  }
}

async function copyStep(instruction: Instruction & { keyword: "COPY" | "ADD" }, state: StepState, env: StageEnv) {
  const flags = instruction.flags;
  const from = typeof flags["from"] === "string" ? flags["from"] : undefined;
  const isAdd = instruction.keyword === "ADD";
  for (const source of instruction.args.sources) {
    if (isAdd && /^git:\/\/|^git@|\.git(#|$)/.test(source)) {
      throw located(env, instruction, `ADD from a git repository is not implemented yet: ${source}`, "clone it in a RUN step, or COPY a checkout from the build context");
    }
  }
  const urls = isAdd ? instruction.args.sources.filter(isUrl) : [];
  const localSources = instruction.args.sources.filter((s) => !urls.includes(s));
  if (flags["parents"] === true) throw located(env, instruction, "COPY --parents is not implemented yet", "copy each directory with its own COPY line");
  const checksum = typeof flags["checksum"] === "string" ? flags["checksum"] : undefined;
  if (checksum !== undefined && (urls.length !== 1 || localSources.length > 0)) {
    throw located(env, instruction, "ADD --checksum needs exactly one source, and it must be a URL");
  }
  if (isAdd && from === undefined && localSources.length > 0 && urls.length === 0) {
    const archives = await localArchives(instruction, env);
    if (archives !== undefined) return archiveStep(instruction, archives, state, env);
  }
  const lookup = (name: string): string | undefined => envToMap(state.container.Env).get(name) ?? state.args.get(name);
  const request = {
    keyword: instruction.keyword,
    sources: localSources,
    heredocs: heredocSources(instruction.args.heredocs, (t) => expandWord(t.replace(/["']/g, "\\$&"), lookup, env.escape)),
    dest: instruction.args.dest,
    workdir: state.container.WorkingDir ?? "/",
    excludes: (flags["exclude"] as string[] | undefined) ?? [],
    ...(typeof flags["chown"] === "string" ? { chown: flags["chown"] } : {}),
    ...(typeof flags["chmod"] === "string" ? { chmod: flags["chmod"] } : {}),
  };
  let sourceKey = "context";
  let sourceLayers: Layer[] | undefined;
  if (from !== undefined) {
    const index = env.stageIndex(from);
    const source = index !== undefined ? await env.stageResult(index) : await env.imageState(from);
    sourceKey = source.key;
    sourceLayers = source.layers;
  }
  const nowNs = BigInt(env.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1_000_000_000n;
  const downloads: string[] = [];
  // Planning reads the destination image (is dest a directory? who is --chown?) and the sources.
  const plan = async (scratch: string): Promise<CopyPlan> =>
    withView(state.layers, env, async (view) => {
      const o = { view, scratchDir: scratch, nowNs };
      if (sourceLayers === undefined) {
        const trees = request.sources.length === 0 ? [] : await resolveSources(env.contextDir, request.sources, env.rules, request.excludes);
        for (const url of urls) {
          const got = await download(url, path.join(scratch, `download-${trees.length}`), checksum);
          downloads.push(got.digest);
          trees.push({ name: got.name, contextPath: got.name, kind: "file", entries: [{ rel: "", abs: got.file, stats: await lstat(got.file) }] });
        }
        return planCopy(request, trees, o);
      }
      return withView(sourceLayers, env, async (source) => {
        const trees = await resolveViewSources(source, request.sources, request.excludes, `--from=${from}`);
        return planCopy(request, trees, { ...o, sourceOwner: imageIdsOf });
      });
    });
  const scratch = await mkdtemp(path.join(env.scratchRoot, "copy-"));
  let planned: CopyPlan;
  try {
    planned = await plan(scratch);
  } catch (e) {
    await rm(scratch, { recursive: true, force: true });
    if (e instanceof TbuildError) throw located(env, instruction, e.message, e.hint);
    throw e;
  }
  return {
    // A URL's content is in `content`: the key says what was downloaded, never where from (URLs may hold credentials).
    key: { copy: isAdd && urls.length > 0 ? "ADD <url>" : instruction.original, request, from: sourceKey, content: planned.contentDigest },
    execute: async () => {
      try {
        return await layerFromChanges(planned.changes, env);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}

/** ADD's sources when they are all local archives (to unpack), undefined when none is; a mix is refused. */
async function localArchives(instruction: Instruction & { keyword: "COPY" | "ADD" }, env: StageEnv): Promise<string[] | undefined> {
  let trees;
  try {
    trees = await resolveSources(env.contextDir, instruction.args.sources, env.rules, (instruction.flags["exclude"] as string[] | undefined) ?? []);
  } catch (e) {
    if (e instanceof TbuildError) throw located(env, instruction, e.message, e.hint);
    throw e;
  }
  const files = trees.filter((t) => t.kind === "file").map((t) => t.entries[0]!.abs);
  const archives = [];
  for (const f of files) if (await isLocalArchive(f)) archives.push(f);
  if (archives.length === 0) return undefined;
  if (archives.length !== trees.length || (instruction.args.heredocs ?? []).length > 0) {
    throw located(env, instruction, "ADD of archives together with other sources is not implemented yet", "give the archives their own ADD line");
  }
  return archives;
}

/** ADD of local tar archives: each is unpacked at dest through the snapshotter's safe applier. */
async function archiveStep(instruction: Instruction & { keyword: "COPY" | "ADD" }, archives: string[], state: StepState, env: StageEnv) {
  const dest = path.posix.resolve(state.container.WorkingDir ?? "/", instruction.args.dest);
  const digests = [];
  for (const a of archives) digests.push(await fileDigest(a));
  return {
    key: { add: instruction.original, dest, archives: digests },
    execute: async (): Promise<Layer | null> => {
      const { snapshotter, rootfs } = await env.snapshots();
      const parent = await rootfs.ensure(state.layers);
      const active = `add-${randomBytes(8).toString("hex")}`;
      await snapshotter.prepare(active, parent);
      try {
        for (const archive of archives) await snapshotter.apply(active, await archiveUnder(archive, dest), { layer: `ADD ${path.basename(archive)}` });
        return await commitStep(snapshotter, active, state.layers, env);
      } catch (e) {
        await snapshotter.remove(active).catch(() => undefined);
        if (e instanceof TbuildError) throw located(env, instruction, e.message, e.hint);
        throw e;
      }
    },
  };
}

/**
 * The layer of an active snapshot after a step, kept as a committed snapshot so the
 * next step starts from it without unpacking; null (and the snapshot dropped) when
 * the step changed nothing.
 */
async function commitStep(snapshotter: Snapshotter, active: string, parentLayers: Layer[], env: StageEnv): Promise<Layer | null> {
  const layer = await snapshotter.diff(active, env.content, {
    compression: env.compression,
    ...(env.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: env.sourceDateEpoch }),
  });
  if (layer.diffID === EMPTY_TAR_DIFF_ID) {
    await snapshotter.remove(active);
    return null;
  }
  const name = chainIds([...parentLayers, layer].map((l) => l.diffID)).at(-1)!;
  await snapshotter.commit(name, active).catch(async (e: unknown) => {
    if (!(e instanceof TbuildError && e.category === "already-exists")) throw e;
    await snapshotter.remove(active);
  });
  return layer;
}

async function workdirStep(state: StepState, env: StageEnv) {
  const dir = state.container.WorkingDir ?? "/";
  const user = state.container.User;
  return {
    key: { workdir: dir, user: user ?? "" },
    execute: async (scratch: string) =>
      withView(state.layers, env, async (view) => {
        if (await view.isDirectory(dir)) return null;
        const ids = user === undefined || user === "" ? { uid: 0, gid: 0 } : await resolveIds(user, view, `WORKDIR ${dir}`);
        const nowNs = BigInt(env.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1_000_000_000n;
        return layerFromChanges(await planMkdir(dir, ids, view, scratch, nowNs), env);
      }),
  };
}

async function runStep(instruction: Instruction & { keyword: "RUN" }, state: StepState, env: StageEnv) {
  const flags = instruction.flags;
  const host = hostPlatform();
  if (state.platform.os !== host.os || state.platform.architecture !== host.architecture) {
    throw located(env, instruction, `RUN for ${formatPlatform(state.platform)} on this ${formatPlatform(host)} machine needs CPU emulation, which tbuild does not have`, "build RUN steps for this machine's platform, or build on a machine of the target platform");
  }
  if (flags["security"] === "insecure") {
    throw located(env, instruction, "RUN --security=insecure is not allowed: tbuild never grants extra privileges to a build step");
  }
  const shell = state.container.Shell ?? DEFAULT_SHELL;
  const heredocs = instruction.args.heredocs ?? [];
  let argv = commandArgv(instruction.args, shell);
  if (heredocs.length > 0 && instruction.args.form === "shell") {
    // As BuildKit: `RUN <<EOF` runs the body as a script; `RUN cmd <<EOF` feeds heredocs to the shell line.
    const only = heredocs[0]!;
    argv = instruction.args.command.trim() === `<<${only.name}` || instruction.args.command.trim() === `<<-${only.name}`
      ? [...shell, only.content]
      : [...shell, [instruction.args.command, ...heredocs.map((h) => `${h.content}${h.name}`)].join("\n")];
  }
  const envMap = envToMap(state.container.Env);
  for (const [k, v] of state.args) if (!envMap.has(k)) envMap.set(k, v);
  if (!envMap.has("PATH")) envMap.set("PATH", DEFAULT_PATH);
  const runEnv = [...envMap].map(([k, v]) => `${k}=${v}`);
  const workdir = resolveWorkdir(undefined, state.container.WorkingDir ?? "/");
  const network = (typeof flags["network"] === "string" ? flags["network"] : "default") as "default" | "none" | "host";
  const mountSpecs = (flags["mount"] as string[] | undefined) ?? [];
  const sourceState = (from: string): Promise<ImageState> => {
    const index = env.stageIndex(from);
    return index !== undefined ? env.stageResult(index) : env.imageState(from);
  };
  let mountKeys: unknown[];
  try {
    mountKeys = await Promise.all(mountSpecs.map((m) => mountKey(m, async (from) => (await sourceState(from)).key)));
  } catch (e) {
    if (e instanceof TbuildError) throw located(env, instruction, e.message, e.hint);
    throw e;
  }
  return {
    key: { run: argv, env: runEnv, user: state.container.User ?? "", workdir, network, mounts: mountKeys },
    execute: async (scratch: string): Promise<Layer | null> => {
      const { snapshotter, rootfs } = await env.snapshots();
      const parent = await rootfs.ensure(state.layers);
      const active = `run-${randomBytes(8).toString("hex")}`;
      const mounts = await snapshotter.prepare(active, parent);
      const views: string[] = [];
      try {
        const view = MergedView.fromMounts(mounts);
        const user = state.container.User;
        const ids: Ids = user === undefined || user === "" ? { uid: 0, gid: 0 } : await resolveIds(user, view, `USER ${user}`);
        if (!(await view.isDirectory(workdir))) {
          throw located(env, instruction, `the working directory ${workdir} does not exist in the image`, "add a WORKDIR instruction, which creates it");
        }
        const upper = upperDir(mounts);
        const sourceTree = async (from: string) => {
          const source = await sourceState(from);
          const key = `view-${randomBytes(6).toString("hex")}`;
          const sourceView = MergedView.fromMounts(await snapshotter.view(key, await rootfs.ensure(source.layers)));
          views.push(key);
          return { view: sourceView, lowerdirs: sourceView.layerDirs, key: source.key };
        };
        const prepared = await prepareMounts(mountSpecs, { storeRoot: env.storeRoot, contextDir: env.contextDir, rules: env.rules, scratch, secrets: env.secrets, view, sourceTree }).catch(
          (e: unknown) => {
            throw e instanceof TbuildError ? located(env, instruction, e.message, e.hint) : e;
          },
        );
        const existing = { proc: await view.isDirectory("/proc"), dev: await view.isDirectory("/dev") };
        const code = await withLocks(prepared.locks, () =>
          runInSnapshot({
            mounts,
            upper,
            argv,
            env: runEnv,
            workdir,
            ids,
            network,
            existing,
            extraMounts: prepared.mounts,
            scratch,
            onOutput: (stream, chunk) => env.onEvent({ kind: "output", stage: instruction.original, stream, chunk }),
          }),
        );
        if (code !== 0) {
          throw located(env, instruction, `RUN failed with exit code ${code}: ${instruction.original.replace(/^RUN\s+/i, "")}`);
        }
        return await commitStep(snapshotter, active, state.layers, env);
      } catch (e) {
        await snapshotter.remove(active).catch(() => undefined);
        throw e;
      } finally {
        for (const key of views) await snapshotter.remove(key).catch(() => undefined);
      }
    },
  };
}

function upperDir(mounts: { type: string; source: string; options: string[] }[]): string {
  const m = mounts[0]!;
  if (m.type === "bind") return m.source;
  const upper = m.options.find((o) => o.startsWith("upperdir="));
  if (upper === undefined) throw new TbuildError("internal", "RUN: the snapshot is not writable");
  return upper.slice("upperdir=".length);
}

