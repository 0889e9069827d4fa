/**
 * A full disk is the user's to fix, not a bug: every write path that can meet ENOSPC
 * (blobs, snapshots, RUN's tree, small metadata files) reports it in one wording, with
 * the store's path and about how much the failed operation needed.
 */
import { statfs } from "node:fs/promises";
import { TbuildError, errnoCode } from "./errors.js";

export class DiskFullError extends TbuildError {
  constructor(
    /** The store root (or the directory written, until the caller knows the root). */
    readonly dir: string,
    /** Bytes the failed operation needed, at least (what it had written when the disk filled). */
    readonly needed: number,
    cause?: unknown,
    /** Where it happened, for the message's start (`Dockerfile:3`). */
    readonly at?: string,
  ) {
    super("unavailable", `${at === undefined ? "" : `${at}: `}the disk under the store (${dir}) is full; needed about ${formatMB(needed)}`, {
      cause,
      hint: "free space on that disk (tbuild prune removes what no image or build cache uses), or choose a store on a larger disk with --root or TBUILD_ROOT",
    });
    this.name = "DiskFullError";
  }

  /** The same error, naming `root`, needing at least `needed` bytes, and placed `at` (unless it already is). */
  under(root: string, needed = 0, at?: string): DiskFullError {
    return new DiskFullError(root, Math.max(this.needed, needed), this.cause, this.at ?? at);
  }
}

function formatMB(bytes: number): string {
  const mb = bytes / 1e6;
  return `${mb < 10 ? Math.max(0.1, Math.ceil(mb * 10) / 10) : Math.ceil(mb)} MB`;
}

/** Below this much free space a failed write is taken to be the full disk's fault. */
const NEARLY_FULL = 1 << 20;

/** Whether the filesystem holding `dir` has (almost) no space left for this user. */
export async function diskIsFull(dir: string): Promise<boolean> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize < NEARLY_FULL || s.ffree === 0;
  } catch {
    return false;
  }
}

/**
 * `e` as a DiskFullError when it is ENOSPC (or another failure of a process, such as
 * `cp` or a RUN command, while `dir`'s disk is full); otherwise `e` unchanged.
 */
export async function asDiskFull(e: unknown, dir: string, needed: number | (() => Promise<number>)): Promise<unknown> {
  if (e instanceof DiskFullError) return e;
  if (errnoCode(e) !== "ENOSPC" && errnoCode((e as { cause?: unknown } | undefined)?.cause) !== "ENOSPC" && !(await diskIsFull(dir))) return e;
  const bytes = typeof needed === "number" ? needed : await needed().catch(() => 0);
  return new DiskFullError(dir, bytes, e);
}
