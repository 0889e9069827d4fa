import { PassThrough } from "node:stream";
import { DiskFullError } from "../../disk-full.js";
import { TbuildError, type ErrorCategory } from "../../errors.js";
import type { ContainerConfig, Platform } from "../../oci/index.js";
import type { Instruction } from "../../parser/index.js";
import type { Change } from "../../snapshotter/changes.js";
import { storeLayer, writeLayerTar, type LayerItem } from "../../snapshotter/differ.js";
import type { Snapshotter } from "../../snapshotter/snapshotter.js";
import { chainIds, MergedView, type Layer } from "../rootfs.js";
import type { LayerOutput, RunGround } from "./context.js";

/** What a layer step sees of its stage when it starts. */
export interface StepState {
  /** The stage's name in progress output. */
  stage: string;
  /** Output of the step's command, for progress. */
  output: (stream: "stdout" | "stderr", chunk: Buffer) => void;
  /** The image's own platform: RUN can only execute what this machine's CPU runs. */
  platform: Platform;
  container: ContainerConfig;
  layers: Layer[];
  args: Map<string, string>;
}

/** A layer step's cache inputs, and how to produce its layer on a miss. */
export interface StepInputs {
  key: unknown;
  /** COPY/ADD: each copied entry's digest by path, so a miss can name the files that changed. */
  files?: ReadonlyMap<string, string>;
  execute: (scratch: string) => Promise<Layer | null>;
}

/** diffID of an empty tar (two zero blocks): a step that changed nothing. */
const EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/** An error at the instruction's line in the Dockerfile. */
export function located(at: { file: string }, instruction: Instruction, message: string, hint?: string, category: ErrorCategory = "failed-precondition"): TbuildError {
  return new TbuildError(category, `${at.file}:${instruction.lines[0]}: ${message}`, hint === undefined ? {} : { hint });
}

/** A TbuildError from deeper down, placed at a line of the Dockerfile, its category and hint kept. */
export function atLine(file: string, line: number, e: TbuildError): TbuildError {
  return new TbuildError(e.category, `${file}:${line}: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint });
}

/** A TbuildError from deeper down, placed at the instruction's line, its category kept (a full disk names the store). */
export function relocated(at: { file: string; storeRoot: string }, instruction: Instruction, e: TbuildError): TbuildError {
  if (e instanceof DiskFullError) return e.under(at.storeRoot, 0, `${at.file}:${instruction.lines[0]}`);
  return atLine(at.file, instruction.lines[0], e);
}

/** A tar of `changes` compressed into the content store; null when there is nothing in it. */
export async function layerFromChanges(changes: Change[], output: LayerOutput): Promise<Layer | null> {
  if (changes.length === 0) return null;
  return layerFromItems(
    (async function* () {
      yield* changes;
    })(),
    output,
  );
}

/** A tar of `items` (changes, and entries streamed from another layer) compressed into the content store. */
export async function layerFromItems(items: AsyncIterable<LayerItem>, output: LayerOutput): Promise<Layer> {
  const tar = new PassThrough();
  // writeLayerTar destroys the stream when the items fail, and its promise says why; that may
  // happen before storeLayer (still opening its writer) pipes the stream and listens.
  tar.on("error", () => undefined);
  const writing = writeLayerTar(items, tar, output.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: output.sourceDateEpoch });
  const [layer] = await Promise.all([storeLayer(tar, output.content, output.compression), writing]);
  return layer;
}

/** A read-only view of the filesystem at `layers`, for lookups (dest directories, /etc/passwd). */
export async function withView<T>(layers: Layer[], snapshots: RunGround, fn: (view: MergedView) => Promise<T>): Promise<T> {
  if (layers.length === 0) return fn(new MergedView([]));
  const { snapshotter, rootfs } = await snapshots();
  // ensure() leases the chain, so prune leaves it while fn reads: a view snapshot would only
  // add two metadata writes (each fsynced) and a directory per COPY step.
  const top = await rootfs.ensure(layers);
  return fn(top === undefined ? new MergedView([]) : await snapshotter.committedTree(top));
}

/**
 * The layer of an active snapshot after a step, kept as a committed snapshot so the
 * next step starts from it without unpacking; null (and the snapshot dropped) when
 * the step changed nothing.
 */
export async function commitStep(snapshotter: Snapshotter, active: string, parentLayers: Layer[], output: LayerOutput): Promise<Layer | null> {
  const layer = await snapshotter.diff(active, output.content, {
    compression: output.compression,
    ...(output.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: output.sourceDateEpoch }),
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

