import type { BigIntStats } from "node:fs";
import { lstat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { SourceTree } from "../context/sources.js";
import { TbuildError } from "../errors.js";
import type { Heredoc } from "../parser/index.js";
import type { Change, EntryStats } from "../snapshotter/changes.js";
import type { MergedView } from "./rootfs.js";
import { imageIdsOf, resolveIds, type Ids } from "./users.js";

/** A COPY/ADD with its arguments expanded, as the builder hands it over. */
export interface CopyRequest {
  keyword: "COPY" | "ADD";
  sources: string[];
  heredocs: { name: string; content: string }[];
  dest: string;
  workdir: string;
  chown?: string;
  chmod?: string;
  excludes: string[];
}

function parseChmod(chmod: string | undefined): number | undefined {
  if (chmod === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(chmod)) {
    throw new TbuildError("invalid-argument", `invalid --chmod=${chmod}: tbuild takes octal modes`, { hint: "write e.g. --chmod=755 or --chmod=0644" });
  }
  return parseInt(chmod, 8);
}

const S_IFMT = 0o170000n;

/** An entry's stats as its layer says them: the few fields a tar header needs, one small object per file. */
class LayerStats implements EntryStats {
  readonly nlink = 1n;

  constructor(
    readonly mode: bigint,
    readonly uid: bigint,
    readonly gid: bigint,
    readonly size: bigint,
    readonly mtimeNs: bigint,
    readonly dev: bigint,
    readonly ino: bigint,
    readonly rdev: bigint,
  ) {}

  private type(bits: bigint): boolean {
    return (this.mode & S_IFMT) === bits;
  }
  isFile(): boolean {
    return this.type(0o100000n);
  }
  isDirectory(): boolean {
    return this.type(0o040000n);
  }
  isSymbolicLink(): boolean {
    return this.type(0o120000n);
  }
  isCharacterDevice(): boolean {
    return this.type(0o020000n);
  }
  isBlockDevice(): boolean {
    return this.type(0o060000n);
  }
  isFIFO(): boolean {
    return this.type(0o010000n);
  }
}

/** `st` with other owner, permission bits or mtime, and one link: what the layer should say. */
function restat(st: BigIntStats, o: { ids: Ids; perm?: number; mtimeNs?: bigint }): LayerStats {
  const mode = o.perm === undefined ? st.mode : (st.mode & ~0o7777n) | BigInt(o.perm);
  return new LayerStats(mode, BigInt(o.ids.uid), BigInt(o.ids.gid), st.size, o.mtimeNs ?? st.mtimeNs, st.dev, st.ino, st.rdev);
}

/**
 * Plans a COPY (or ADD of local files) as layer entries from resolved source trees:
 * destinations resolved as Docker does (a trailing `/`, several sources or an
 * existing directory make `dest` a directory), ownership from --chown (else 0:0
 * for the build context, the source's own for --from), modes from --chmod, missing
 * parent directories created 0755 (owned as --chown says, else by root).
 */
export async function planCopy(
  req: CopyRequest,
  trees: SourceTree[],
  o: { view: MergedView; scratchDir: string; nowNs: bigint; sourceOwner?: (st: BigIntStats) => Ids },
): Promise<Change[]> {
  const { chown, perm, destAbs } = await copyTarget(req, o.view);
  const count = trees.length + req.heredocs.length;
  const existingDir = await o.view.isDirectory(destAbs);
  const destIsDir = req.dest.endsWith("/") || existingDir || trees.some((t) => t.kind === "dir") || count > 1;
  if (count > 1 && !req.dest.endsWith("/") && !existingDir) {
    throw new TbuildError("invalid-argument", `when using ${req.keyword} with more than one source file, the destination must be a directory and end with a /`, {
      hint: `write ${req.dest}/`,
    });
  }
  const root = { uid: 0, gid: 0 };
  const owner = (st: BigIntStats): Ids => chown ?? o.sourceOwner?.(st) ?? root;

  const out = new Map<string, { abs: string; st: EntryStats }>();
  for (const tree of trees) {
    for (const entry of tree.entries) {
      const target = tree.kind === "file" ? (destIsDir ? path.posix.join(destAbs, tree.name) : destAbs) : path.posix.join(destAbs, entry.rel);
      const st = entry.stats;
      out.set(target, { abs: entry.abs, st: restat(st, { ids: owner(st), ...(perm !== undefined && !st.isSymbolicLink() ? { perm } : {}) }) });
    }
  }
  for (const [i, doc] of req.heredocs.entries()) {
    const file = path.join(o.scratchDir, `heredoc-${i}`);
    await writeFile(file, doc.content, { mode: 0o644 });
    const target = destIsDir ? path.posix.join(destAbs, doc.name) : destAbs;
    const st = await lstat(file, { bigint: true });
    out.set(target, { abs: file, st: restat(st, { ids: chown ?? root, perm: perm ?? 0o644, mtimeNs: o.nowNs }) });
  }
  // A copied directory's destination exists afterwards even when the source was empty.
  const dirs = trees.some((t) => t.kind === "dir") ? [destAbs] : [];
  // Directories the copy creates take --chown, as BuildKit creates them (fsutil#49); without it they are root's.
  await addParentDirs(out, dirs, o.view, o.scratchDir, o.nowNs, () => chown ?? root);
  return sortedChanges(out);
}

/** --chown and --chmod as ids and bits, and the destination with the image's symlinks resolved. */
async function copyTarget(req: CopyRequest, view: MergedView): Promise<{ chown: Ids | undefined; perm: number | undefined; destAbs: string }> {
  const chown = req.chown === undefined ? undefined : await resolveIds(req.chown, view, `${req.keyword} --chown=${req.chown}`);
  const perm = parseChmod(req.chmod);
  // Symlinks in the image are followed, as Docker does: on a merged-/usr image /bin/x is /usr/bin/x.
  const destAbs = await view.canonical(path.posix.resolve(req.workdir, req.dest));
  return { chown, perm, destAbs };
}

/**
 * planCopy of one directory source whose entries are not listed (they are streamed from
 * the source's layer, see layer-subtree.ts): the destination directory and its parents,
 * planned exactly as planCopy plans them, and how the streamed entries are placed and owned.
 */
export async function planSubtreeCopy(
  req: CopyRequest,
  o: { view: MergedView; scratchDir: string; nowNs: bigint },
): Promise<{ parents: Change[]; dest: string; chown: Ids | undefined; perm: number | undefined }> {
  const { chown, perm, destAbs } = await copyTarget(req, o.view);
  const out = new Map<string, { abs: string; st: EntryStats }>();
  // The parents planCopy finds above the entries: the streamed ones are all below destAbs
  // (an empty directory is left to planCopy, which then plans destAbs alone).
  const dirs = [destAbs];
  for (let dir = path.posix.dirname(destAbs); dir !== "/"; dir = path.posix.dirname(dir)) dirs.push(dir);
  await addParentDirs(out, dirs, o.view, o.scratchDir, o.nowNs, () => chown ?? { uid: 0, gid: 0 });
  return { parents: sortedChanges(out), dest: destAbs, chown, perm };
}

/** The entries that create directory `dir` (and missing parents) owned by `ids`, as WORKDIR does. */
export async function planMkdir(dir: string, ids: Ids, view: MergedView, scratchDir: string, nowNs: bigint): Promise<Change[]> {
  const target = await view.canonical(dir);
  const out = new Map<string, { abs: string; st: EntryStats }>();
  const st = await lstat(scratchDir, { bigint: true });
  out.set(target, { abs: scratchDir, st: restat(st, { ids, perm: 0o755, mtimeNs: nowNs }) });
  await addParentDirs(out, [], view, scratchDir, nowNs, () => ({ uid: 0, gid: 0 }));
  return sortedChanges(out);
}

/**
 * Adds an entry for every directory above the planned entries (and for `extra`):
 * one the image has keeps its owner, mode and time, as Docker's layers carry them
 * (an overlay layer without them would reset the directory to root 0755); a missing
 * one is created 0755 and owned as `ownerOf` says.
 */
async function addParentDirs(
  out: Map<string, { abs: string; st: EntryStats }>,
  extra: string[],
  view: MergedView,
  scratchDir: string,
  nowNs: bigint,
  ownerOf: (dir: string) => Ids,
): Promise<void> {
  const dirStat = await lstat(scratchDir, { bigint: true });
  const wanted = new Set(extra);
  for (const target of out.keys()) for (let dir = path.posix.dirname(target); dir !== "/"; dir = path.posix.dirname(dir)) wanted.add(dir);
  for (const dir of wanted) {
    if (dir === "/" || out.has(dir)) continue;
    const found = await view.resolve(dir);
    if (found !== undefined && found.isDir) {
      const st = await lstat(found.host, { bigint: true });
      out.set(dir, { abs: found.host, st: restat(st, { ids: imageIdsOf(st) }) });
    } else {
      out.set(dir, { abs: scratchDir, st: restat(dirStat, { ids: ownerOf(dir), perm: 0o755, mtimeNs: nowNs }) });
    }
  }
}

function sortedChanges(out: Map<string, { abs: string; st: EntryStats }>): Change[] {
  // Each path's bytes made once, not twice per comparison.
  const paths = [...out.keys()]
    .map((p) => ({ p, bytes: Buffer.from(p) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ p }) => p);
  return paths.map((p) => {
    const item = out.get(p)!;
    return { kind: "add", path: p.slice(1), abs: item.abs, st: item.st, xattrs: [] };
  });
}

export function heredocSources(heredocs: Heredoc[] | undefined, expand: (text: string) => string): { name: string; content: string }[] {
  return (heredocs ?? []).map((h) => ({ name: h.name, content: h.expand ? expand(h.content) : h.content }));
}
