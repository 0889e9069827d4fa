/**
 * The seam between the builder and whatever runs a RUN command (BuildKit's
 * executor.Executor). The builder prepares the step's root (a snapshot's mounts) and
 * its `--mount` mounts as data; an executor makes them the command's filesystem,
 * starts the process, streams its output, and returns its exit status. How it
 * isolates the command (namespaces, or a chroot inside a container that is itself the
 * boundary) is the executor's business, never the builder's.
 */
import type { Mount } from "../snapshotter/snapshotter.js";

/** The command of one step, as the image defines it. */
export interface ProcessSpec {
  argv: string[];
  /** Exactly the command's environment (never tbuild's own). */
  env: string[];
  /** Working directory inside the root; it exists. */
  cwd: string;
  uid: number;
  gid: number;
  /** Supplementary groups (the primary group and the image's /etc/group memberships). */
  groups: number[];
  network: "default" | "none" | "host";
  /** The step's hostname, in a UTS namespace of its own where the executor has one. */
  hostname: string;
}

/**
 * One mount a RUN step asked for (`RUN --mount`), resolved by the builder:
 *  - dir/file: `source` (a host directory or file) appears at target;
 *  - overlay: an overlay with `options` (lowerdir=...), of which `subpath` appears at target;
 *  - tmpfs: an empty, private directory with `options`.
 * `chown=uid:gid` in options means the source is to be owned so first; `ro` read-only;
 * for tmpfs, `size=N`.
 */
export interface PreparedMount {
  kind: "dir" | "file" | "overlay" | "tmpfs";
  target: string;
  source: string;
  options: string[];
  subpath: string;
  /** How many leading components of target existed in the image: the rest are stubs to remove afterwards. */
  existing: number;
}

/**
 * A file the step sees at `target` but its layer never gets (resolv.conf, hosts,
 * hostname, a secret, a heredoc script): its content goes to the executor in memory,
 * and is to be kept off disk (the namespace executor writes it to a tmpfs of the
 * step's own mount namespace and binds it read-only), so nothing of it survives the step.
 */
export interface StepFile {
  kind: "file";
  target: string;
  mode: number;
  uid: number;
  gid: number;
  data: Buffer;
  /** How many leading components of target existed in the image (see PreparedMount). */
  existing: number;
}

export interface ExecRequest {
  /** The step's root filesystem: the active snapshot's mounts, from the snapshotter. */
  rootfs: Mount[];
  mounts: PreparedMount[];
  files: StepFile[];
  process: ProcessSpec;
  /** A directory of this step alone, for the executor's own temporary files. */
  scratch: string;
  onOutput: (stream: "stdout" | "stderr", chunk: Buffer) => void;
  /** Aborting kills the command (its whole process group) and rejects. */
  signal?: AbortSignal;
}

export interface Executor {
  /** What isolates the command, as `--isolation` names it. */
  readonly isolation: "namespace" | "chroot";
  /** Runs the command to its end; resolves with its exit status (128+n when killed by signal n). */
  run(req: ExecRequest): Promise<number>;
}
