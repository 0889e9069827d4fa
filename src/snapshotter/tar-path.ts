/**
 * Containment for paths taken from layer tars. Nothing here trusts a library option:
 * names are split and checked by hand, and every component that already exists under
 * the root is lstat'ed so a symlink (from this layer or an earlier one) is never
 * followed while writing.
 */
import { lstat, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { TbuildError, errnoCode } from "../errors.js";

export class UnsafeEntryError extends TbuildError {
  constructor(layer: string, entry: string, reason: string) {
    super("failed-precondition", `layer ${layer}: entry '${entry}' ${reason}; refusing to extract it`, {
      hint: "this layer tries to write outside its root filesystem; do not use the image, and report it to its publisher",
    });
  }
}

/**
 * The components of a tar entry name, or the reason it is unsafe. `./` prefixes and
 * `.` components are dropped; absolute names and `..` components are refused rather
 * than "fixed", because a layer that contains them was made to attack extractors.
 */
export function entryComponents(name: string): string[] | { unsafe: string } {
  if (name.includes("\0")) return { unsafe: "contains a NUL byte" };
  if (name.startsWith("/")) return { unsafe: "is an absolute path" };
  const comps = name.split("/").filter((c) => c !== "" && c !== ".");
  if (comps.includes("..")) return { unsafe: "contains a '..' component" };
  return comps;
}

/**
 * Resolves directory components under `root`, creating missing ones (mode 0755), and
 * refusing any that exists as a symlink or non-directory. `known` caches directories
 * already checked in this layer; callers clear it when they remove or replace a path.
 */
export async function safeDir(root: string, comps: readonly string[], known: Set<string>, fail: (reason: string) => Error): Promise<string> {
  let abs = root;
  let rel = "";
  for (const c of comps) {
    abs = join(abs, c);
    rel = rel === "" ? c : `${rel}/${c}`;
    if (known.has(rel)) continue;
    let st;
    try {
      st = await lstat(abs);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
      await mkdir(abs, { mode: 0o755 });
      known.add(rel);
      continue;
    }
    if (st.isSymbolicLink()) throw fail(`goes through the symlink '${rel}'`);
    if (!st.isDirectory()) throw fail(`goes through '${rel}', which is not a directory`);
    known.add(rel);
  }
  return abs;
}

/** Like safeDir, but never creates anything: undefined when a component is missing. */
export async function existingDir(root: string, comps: readonly string[]): Promise<string | undefined> {
  let abs = root;
  for (const c of comps) {
    abs = join(abs, c);
    const st = await lstat(abs).catch(() => undefined);
    if (st === undefined || !st.isDirectory()) return undefined;
  }
  return abs;
}
