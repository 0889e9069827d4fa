import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import type { Lease } from "../store/lease.js";
import type { CacheLookup } from "../cache/lookup.js";
import { fingerprint } from "../cache/explain.js";
import type { StepRecord } from "../cache/record.js";
import { stepKey } from "../cache/step-cache.js";
import { TbuildError } from "../errors.js";
import type { ContainerConfig, History, ImageConfig } from "../oci/index.js";
import { parseTrigger, StageScope, type ArgValues, type Instruction, type Stage } from "../parser/index.js";
import type { StepStartEvent } from "../events.js";
import { sourceExcerpt, type Progress, type StepProgress } from "./progress.js";
import { applyMetadata, DEFAULT_PATH, envToMap } from "./image-config.js";
import type { Layer } from "./rootfs.js";
import type { StepInputs, StepState } from "./steps/common.js";
import type { StepServices } from "./steps/context.js";
import { copyStep } from "./steps/copy-step.js";
import { runStep } from "./steps/run-step.js";
import { workdirStep } from "./steps/workdir-step.js";
import { hasBlob } from "../content/blob-io.js";

/** An image as a stage sees it: its config and layers, and the cache key of its last step. */
export interface ImageState {
  config: ImageConfig;
  layers: Layer[];
  /** Cache key after the last step (for a base image: its manifest digest). */
  key: string;
  /** A base image this build pulled (progress shows its FROM as done, not cached). */
  pulled?: boolean;
  /** Keys of the layer steps this image was built with, through its base stages (none for a pulled image). */
  steps: string[];
  /** A stage's ONBUILD triggers, as parsed with the Dockerfile (an image's are read from its config). */
  triggers?: Instruction[];
}

/** How a stage's layer steps meet the build cache. */
export interface StageCache {
  /** The store's step cache and the imported ones (--cache-from), asked in that order. */
  lookup: CacheLookup;
  /** --no-cache: every step runs (and is still recorded). */
  skip: boolean;
  /** Say why each missed step missed (cache-miss events). */
  explain: boolean;
  /** Every layer step this build resolved, by key, for --cache-to. */
  used: Map<string, StepRecord>;
  /** This build's lease: a cached layer is held here before use, so garbage collection leaves it. */
  lease: Lease;
}

/** What a stage reads beyond its own instructions: the same for every stage of one platform's build. */
export interface StageEnv {
  /** What the layer steps may use; each step is handed only its own part (steps/context.ts). */
  steps: StepServices;
  cache: StageCache;
  /** The Dockerfile's text, for the excerpt shown around a failing instruction. */
  source: string;
  /** What ARG lines resolve against in this platform's build. */
  args: ArgValues;
  /** Put before stage names in progress (the platform, when building several). */
  label: string;
  /** The build has one stage: progress then names steps `[2/3]`, without the stage, as BuildKit does. */
  singleStage: boolean;
  progress: Progress;
}

/**
 * An instruction as progress and history show it: URLs in ADD lose their
 * user:password (BuildKit's CVE-2023-26054) and their query, where presigned URLs
 * keep their signatures.
 */
function shownText(instruction: Instruction): string {
  if (instruction.keyword !== "ADD") return instruction.original;
  return instruction.original.replace(/\b(https?:\/\/)(?:[^\s/@]+@)?([^\s?#]*)(?:\?[^\s#]*)?/gi, "$1$2");
}

/** Where errors in a base image's ONBUILD triggers are placed (line N: the Nth trigger). */
const TRIGGERS_FILE = "ONBUILD triggers of the base image";

function isLayerStep(instruction: Instruction): boolean {
  return instruction.keyword === "RUN" || instruction.keyword === "COPY" || instruction.keyword === "ADD" || instruction.keyword === "WORKDIR";
}

function stageLabel(stage: Stage): string {
  return stage.name ?? `stage-${stage.index}`;
}

/**
 * Executes one stage's instructions on top of `base`: metadata instructions change
 * the config, RUN/COPY/ADD/WORKDIR add layers. Each layer step is looked up in the
 * build cache by a key over its parent key and inputs; on a miss it runs and is
 * recorded.
 */
export async function runStage(stage: Stage, base: ImageState, env: StageEnv): Promise<ImageState> {
  const { steps: services, cache } = env;
  const epoch = services.output.sourceDateEpoch;
  const label = env.label + stageLabel(stage);
  let config: ImageConfig = structuredClone(base.config);
  let container: ContainerConfig = config.config ?? {};
  // As BuildKit: an image without PATH gets the default one, so RUN and the final image agree.
  if (!envToMap(container.Env).has("PATH")) container = { ...container, Env: [`PATH=${DEFAULT_PATH}`, ...(container.Env ?? [])] };
  // The base image's ONBUILD triggers run first, and are consumed: they do not pass to this image.
  const triggers = container.OnBuild ?? [];
  const instructions = [...(triggers.length > 0 ? (base.triggers ?? triggers.map((t, i) => parseTrigger(t, TRIGGERS_FILE, i + 1))) : []), ...stage.instructions];
  if (triggers.length > 0) {
    const { OnBuild: _consumed, ...rest } = container;
    container = rest;
  }
  const layers = [...base.layers];
  const history: History[] = [...(config.history ?? [])];
  const inherited = history.length;
  let key = base.key;
  const steps = [...base.steps];
  /** A layer step before the current one ran in this build (here or in a stage this one is built on). */
  let upstreamRan = base.steps.some((k) => cache.lookup.didRun(k));
  let cmdInherited = true;
  /** The stage's variables: instructions are expanded here, against the ENV of the base it really has. */
  const scope = new StageScope(env.args, envToMap(container.Env), services.escape);
  /** ARGs declared so far in this stage, with their values: RUN sees them as environment. */
  const args = scope.args;
  const ownTriggers: Instruction[] = [];
  // Times come from when a step first ran (kept in the cache), so a rebuild where every
  // step hits gives the very same image digest; SOURCE_DATE_EPOCH pins them all.
  const buildTime = new Date((epoch ?? Math.floor(Date.now() / 1000)) * 1000).toISOString();
  let latest = epoch === undefined ? config.created : undefined;
  const scratch = await mkdtemp(path.join(services.scratchRoot, `stage-${stage.index}-`));
  /**
   * Cache records being written. The next step does not need a step's record, later
   * builds do: each is written (fsync, rename) while the next steps run, and the stage
   * ends only when all are on disk. Each starts after its layer blob was committed, so
   * a record never names a blob that is not durably stored.
   */
  const recording: Promise<void>[] = [];
  let recorded: PromiseSettledResult<void>[] = [];

  const record = (instruction: Instruction, layer: Layer | null, created = latest): void => {
    history.push({ ...(created === undefined ? {} : { created }), created_by: shownText(instruction), comment: "tbuild", ...(layer === null ? { empty_layer: true } : {}) });
    if (layer !== null) layers.push(layer);
  };

  // Progress shows what BuildKit shows: FROM an image, then each layer step, numbered k/n.
  const onbuilt = new Set(instructions.slice(0, instructions.length - stage.instructions.length));
  const fromImage = stage.baseStage === null && !base.key.startsWith("scratch:");
  const count = instructions.filter(isLayerStep).length + (fromImage ? 1 : 0);
  let shown = 0;
  const prefix = env.singleStage && stage.name === null ? env.label.trim() : label;
  /** `line`: of an instruction of the Dockerfile (a trigger's has none there). */
  const startStep = (text: string, line?: number): StepProgress => {
    shown++;
    const info: Omit<StepStartEvent, "kind" | "time" | "step"> = {
      name: `[${prefix === "" ? "" : `${prefix} `}${shown}/${count}] ${text}`,
      type: "instruction",
      stage: stageLabel(stage),
      ...(env.label === "" ? {} : { platform: env.label.trim() }),
      index: shown,
      count,
      instruction: text,
      ...(line === undefined ? {} : { line }),
    };
    return env.progress.start(info);
  };
  if (fromImage) {
    const from = startStep(`FROM ${stage.base}`);
    if (base.pulled === true) from.done();
    else from.cached();
  }

  try {
    for (const written of instructions) {
      services.signal?.throwIfAborted();
      const triggered = onbuilt.has(written);
      const instruction = scope.resolve(written, triggered ? TRIGGERS_FILE : services.file);
      switch (instruction.keyword) {
        case "ARG":
          // No new key: a build arg reaches the steps that use it (RUN's environment,
          // expanded COPY/ENV text), so changing one does not rebuild every later COPY.
          continue;
        case "RUN":
        case "COPY":
        case "ADD":
        case "WORKDIR": {
          const step = startStep(shownText(instruction), triggered ? undefined : instruction.lines[0]);
          try {
            if (instruction.keyword === "WORKDIR") {
              container = applyMetadata(container, instruction, cmdInherited);
            }
            const platform = { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) };
            const state = { stage: label, platform, container, layers, args, output: (stream: "stdout" | "stderr", chunk: Buffer) => step.log(stream, chunk) };
            const inputs = await stepInputs(instruction, state, services);
            const nextKey = stepKey(key, inputs.key);
            const found = cache.skip ? undefined : await cache.lookup.find(nextKey);
            // The layer is leased before it is used, so a prune running now cannot take it;
            // one pruned just before is a miss.
            const cached = found?.layer === undefined || found.layer === null || (await cache.lease.holdBlobs([found.layer], (d) => hasBlob(services.output.content, d))) ? found : undefined;
            let result: StepRecord;
            if (cached !== undefined) {
              step.cached();
              result = cached;
            } else {
              // Only a miss stores or compares fingerprints: a hit (every step of a
              // no-change build) skips hashing a COPY's entries one by one.
              const fingerprints = fingerprint({
                text: shownText(instruction),
                key: inputs.key,
                argNames: new Set(args.keys()),
                envNames: new Set(envToMap(container.Env).keys()),
                ...(inputs.files === undefined ? {} : { files: inputs.files }),
              });
              if (cache.explain) {
                const onImage = fromImage && steps.length === base.steps.length;
                const reason = cache.skip
                  ? "--no-cache was given"
                  : await cache.lookup.explain({ parent: key, inputs: fingerprints, upstreamRan, ...(onImage ? { baseImage: stage.base } : {}) });
                step.cacheMiss(reason);
              }
              upstreamRan = true;
              result = { layer: await inputs.execute(scratch), created: buildTime, parent: key, inputs: fingerprints };
              const writing = cache.lookup.record(nextKey, result);
              // Handled here so a failure waits for the stage's end instead of crashing Node as unhandled.
              writing.catch(() => undefined);
              recording.push(writing);
              step.done(result.layer?.size ?? 0);
            }
            cache.used.set(nextKey, result);
            latest = epoch === undefined ? (result.created ?? buildTime) : buildTime;
            record(instruction, result.layer, latest);
            key = nextKey;
            steps.push(key);
          } catch (e) {
            if (services.signal?.aborted === true) step.canceled();
            else step.fail(e instanceof Error ? e.message : String(e), triggered ? undefined : sourceExcerpt(services.file, env.source, instruction.lines[0], instruction.lines[1]));
            throw e;
          }
          continue;
        }
        default:
          container = applyMetadata(container, instruction, cmdInherited);
          // MAINTAINER sets the image's author, a field beside the container config.
          if (instruction.keyword === "MAINTAINER") config = { ...config, author: instruction.args.maintainer };
          if (instruction.keyword === "CMD") cmdInherited = false;
          if (instruction.keyword === "ONBUILD") ownTriggers.push(instruction.args.instruction);
          // An ONBUILD's key is its text, as before triggers were parsed with the Dockerfile.
          key = stepKey(key, { meta: instruction.original, args: instruction.keyword === "ONBUILD" ? { trigger: instruction.args.trigger } : instruction.args, flags: instruction.flags });
          record(instruction, null);
      }
    }
  } finally {
    // Waited for when a step failed too: a build never ends with records still being written.
    recorded = await Promise.allSettled(recording);
    await rm(scratch, { recursive: true, force: true });
  }
  for (const r of recorded) if (r.status === "rejected") throw r.reason;

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
  return { config, layers, key, steps, ...(ownTriggers.length > 0 ? { triggers: ownTriggers } : {}) };
}

/** A layer step's cache inputs and how to produce its layer on a miss. */
async function stepInputs(instruction: Instruction, state: StepState, services: StepServices): Promise<StepInputs> {
  switch (instruction.keyword) {
    case "RUN":
      return runStep(instruction, state, services);
    case "COPY":
    case "ADD":
      return copyStep(instruction, state, services);
    case "WORKDIR":
      return workdirStep(state, services);
    default:
      throw new TbuildError("internal", `${instruction.keyword} is not a layer step`);
  }
}

