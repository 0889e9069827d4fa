/**
 * What differs between snapshot drivers, behind one interface: how a new snapshot's tree
 * starts, which mounts show it, how layers are written into it (whiteouts kept or
 * applied), and how its changes are read back. The snapshotter (snapshotter.ts) keeps
 * the metadata and lifecycle rules, which are the same for every driver; it and the
 * worker reach a driver only through the registry (drivers/index.ts).
 */
import type { Change } from "../changes.js";
import type { WhiteoutMode } from "../applier.js";
import type { SnapshotKind } from "../metadata.js";

export type { SnapshotKind };

export type Driver = "overlay" | "native";

/** A mount for the caller to perform, as data (containerd's mount.Mount). */
export interface Mount {
  type: "overlay" | "bind";
  source: string;
  options: string[];
}

/** One snapshot's directories: its tree, and the scratch a writable mount may need. */
export interface SnapshotDirs {
  fs: string;
  work: string;
}

/** The directories a snapshot's mounts show, topmost first, and the one that is written. */
export interface TreeLayers {
  layers: string[];
  writable?: string;
}

export interface SnapshotDriver {
  readonly name: Driver;
  /** Whether it works under `root` for this user (a snapshotter set to "auto" takes the first that does). */
  usable(root: string): Promise<boolean>;
  /** Why it cannot be used under `root`, and what to do instead. */
  unusable(root: string): { message: string; hint: string };
  /**
   * How a RUN's changes show up: "upper" (written into a layer of their own: a directory
   * the kernel copied up for a mount point is a change) or "compare" (found by comparing
   * with the parent's tree: a changed directory mtime is a change).
   */
  readonly tracking: "upper" | "compare";
  /** How layers applied into one of its snapshots treat whiteouts. */
  readonly whiteouts: WhiteoutMode;
  /**
   * Makes a new snapshot's directories (under a temporary path, renamed into place by the
   * caller). `chain` holds the committed ancestors' trees, nearest first.
   */
  create(kind: SnapshotKind, dirs: SnapshotDirs, chain: readonly string[], doing: string): Promise<void>;
  /** The mounts that show snapshot `dirs` (of `kind`) over `chain`. */
  mounts(kind: SnapshotKind, dirs: SnapshotDirs, chain: readonly string[]): Mount[];
  /** The trees a layer applied into `tree` must be checked against (those it lies on). */
  applyLowers(tree: string, chain: readonly string[]): string[];
  /** The changes in `upper` against `lowers` (its committed ancestors' trees, nearest first). */
  changes(upper: string, lowers: readonly string[]): AsyncGenerator<Change>;
  /** What mounts made by this driver show, read without mounting them. */
  layersOf(mounts: readonly Mount[]): TreeLayers;
}
