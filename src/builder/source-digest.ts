import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { readlink } from "node:fs/promises";
import path from "node:path";
import type { SourceTree } from "../context/sources.js";

/** Files hashed at once: enough to keep the fs thread pool busy, few enough to keep memory flat. */
const PARALLEL = 8;

/**
 * The cache identity of COPY sources: every entry's path, type and mode (and owner when
 * `withOwners`: --from keeps the source's owners), link targets and file contents, never
 * timestamps. Contents come from `fileDigest`, which may remember them; several files are
 * hashed at once, and folded in in order, so the digest does not depend on timing.
 */
export async function digestSources(
  trees: readonly SourceTree[],
  /** A file's content digest; a remembered one may come synchronously. */
  fileDigest: (abs: string, st: BigIntStats) => string | Promise<string>,
  withOwners: boolean,
  /**
   * Filled with each entry's part of the digest, by its path in the context: what
   * --explain-cache compares (hashed only when a step misses, see cache/explain.ts).
   */
  perFile?: Map<string, string>,
): Promise<string> {
  const h = createHash("sha256");
  for (const tree of trees) {
    h.update(`tree\0${tree.name}\0${tree.kind}\0`);
    const { entries } = tree;
    for (let i = 0; i < entries.length; i += PARALLEL) {
      const batch = entries.slice(i, i + PARALLEL);
      const pending = batch.map(({ rel, abs, stats: st }): string | Promise<string> => {
        const head = `${rel}\0${st.mode}\0${withOwners ? `${st.uid}:${st.gid}` : ""}\0`;
        if (st.isSymbolicLink()) return readlink(abs).then((target) => `${head}link:${target}\0`);
        if (!st.isFile()) return head;
        const digest = fileDigest(abs, st);
        return typeof digest === "string" ? `${head}file:${digest}\0` : digest.then((d) => `${head}file:${d}\0`);
      });
      // Remembered digests need no promise per file: a no-change build's 10,000 entries
      // cost no 10,000 trips through the microtask queue.
      const parts = pending.every((p) => typeof p === "string") ? (pending as string[]) : await Promise.all(pending);
      for (const [j, p] of parts.entries()) {
        h.update(p);
        perFile?.set(path.posix.join(tree.contextPath, batch[j]!.rel), p);
      }
    }
  }
  return `sha256:${h.digest("hex")}`;
}
