/**
 * Reading the merged tree of stacked layer directories without mounting it, by overlay's
 * rules (a single directory, as the native driver's snapshots are, reads as itself).
 * The snapshotter hands these out for the mounts it made (Snapshotter.tree); the
 * applier uses one to check a layer against the layers below it.
 */
import { lstatSync, type BigIntStats } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { errnoCode, TbuildError } from "../errors.js";
import { isOpaque, isWhiteoutDevice, OPAQUE } from "./changes.js";
import { readTreeXattrs, readXattrs, type Xattrs } from "./xattrs.js";

/** Opaque checks and attribute trees of committed layer directories, kept for the process: they never change. */
const committedOpaque = new Map<string, Promise<boolean>>();
const committedTrees = new Map<string, Promise<Map<string, Xattrs> | undefined>>();

/** One name in a merged directory: the topmost layer's copy, with its lstat. */
interface Entry {
  name: string;
  host: string;
  isDir: boolean;
  stats: BigIntStats;
  link?: string;
}

/**
 * Read-only lookups in the merged tree of a view, without mounting it, by overlay's
 * rules: a name is the topmost layer's copy; a whiteout (`.wh.NAME`, or a 0/0
 * character device) hides it below; a directory continues into lower layers only
 * while they have a directory there too, and not past an opaque one (a
 * `.wh..wh..opq` marker, or an `overlay.opaque` xattr). Each layer is entered only
 * through directories that are real directories in that layer, so a symlink in a
 * lower layer is never followed on the host. Symlinks resolve inside the image root.
 */
export class MergedView {
  private readonly opaque = new Map<string, Promise<boolean>>();
  private readonly layerXattrs = new Map<string, Promise<Map<string, Xattrs> | undefined>>();

  /** `writable`: the layer directories that may still change (an active snapshot's upper). */
  constructor(
    private readonly dirs: readonly string[],
    private readonly writable: ReadonlySet<string> = new Set(),
  ) {}

  /** The layer directories, topmost first (an overlay's lowerdir order). */
  get layerDirs(): string[] {
    return [...this.dirs];
  }

  /** What the layers under the writable one show (the tree before this step's changes). */
  beneath(): MergedView {
    return new MergedView(this.dirs.filter((d) => !this.writable.has(d)));
  }

  /**
   * What is at `p`, following no symlink: the topmost layer's copy, or undefined when a
   * component on the way is missing or not a directory (it hides what lies under it).
   */
  async lookup(p: string): Promise<{ host: string; kind: "dir" | "symlink" | "other" } | undefined> {
    const comps = path.posix.normalize("/" + p).split("/").filter((c) => c !== "");
    let here = [...this.dirs];
    for (let i = 0; i < comps.length; i++) {
      const { entry, below } = await this.child(here, comps[i]!);
      if (entry === undefined) return undefined;
      if (i === comps.length - 1) return { host: entry.host, kind: entry.isDir ? "dir" : entry.link !== undefined ? "symlink" : "other" };
      if (!entry.isDir) return undefined;
      here = below;
    }
    return undefined;
  }

  /** Host path of the topmost layer's copy of `p` (symlinks followed inside the root), or undefined. */
  async resolve(p: string, depth = 0): Promise<{ host: string; isDir: boolean; path: string } | undefined> {
    if (depth > 40) return undefined;
    const comps = path.posix.normalize("/" + p).split("/").filter((c) => c !== "");
    let resolved: string[] = [];
    let here = [...this.dirs];
    for (let i = 0; i < comps.length; i++) {
      const { entry, below } = await this.child(here, comps[i]!);
      if (entry === undefined) return undefined;
      if (entry.link !== undefined) {
        const target = entry.link.startsWith("/") ? entry.link : path.posix.join("/", ...resolved, entry.link);
        return this.resolve(path.posix.join(target, ...comps.slice(i + 1)), depth + 1);
      }
      resolved = [...resolved, comps[i]!];
      if (i === comps.length - 1) return { host: entry.host, isDir: entry.isDir, path: "/" + resolved.join("/") };
      if (!entry.isDir) return undefined;
      here = below;
    }
    return { host: this.dirs[0] ?? "/nonexistent", isDir: true, path: "/" };
  }

  /**
   * How a mount target `p` stands in the image without following symlinks: which
   * leading components exist, and a reason to refuse it when one of them is a
   * symlink (mounting through it would land outside the root) or a non-directory.
   */
  async mountTarget(p: string, kind: "dir" | "file"): Promise<{ existing: number; problem?: string }> {
    const comps = path.posix.normalize("/" + p).split("/").filter((c) => c !== "");
    if (["proc", "dev", "sys"].includes(comps[0] ?? "")) return { existing: 0, problem: `/${comps[0]} is the step's own, not the image's` };
    let here = [...this.dirs];
    for (let i = 0; i < comps.length; i++) {
      const { entry, below } = await this.child(here, comps[i]!);
      if (entry === undefined) return { existing: i };
      const shown = "/" + comps.slice(0, i + 1).join("/");
      if (entry.link !== undefined) return { existing: i, problem: `${shown} is a symlink in the image` };
      const last = i === comps.length - 1;
      if (!entry.isDir && !(last && kind === "file")) return { existing: i, problem: `${shown} is not a directory in the image` };
      here = below;
    }
    return { existing: comps.length };
  }

  /**
   * `p` with every symlink in its existing part resolved inside the image, as a copy
   * into `p` lands: `/bin/tool` on a merged-/usr image is `/usr/bin/tool`. The part
   * that does not exist yet is kept as written.
   */
  async canonical(p: string): Promise<string> {
    const comps = path.posix.normalize("/" + p).split("/").filter((c) => c !== "");
    for (let n = comps.length; n > 0; n--) {
      const found = await this.resolve("/" + comps.slice(0, n).join("/"));
      if (found === undefined) continue;
      if (!found.isDir && n < comps.length) {
        throw new TbuildError("invalid-argument", `/${comps.slice(0, n).join("/")} is not a directory in the image`, { hint: "copy to a path under a directory" });
      }
      return path.posix.join(found.path, ...comps.slice(n));
    }
    return "/" + comps.join("/");
  }

  async isDirectory(p: string): Promise<boolean> {
    return (await this.resolve(p))?.isDir ?? false;
  }

  /** A small text file (like /etc/passwd) from the image, or undefined when absent. */
  async readSmallFile(p: string, maxBytes = 4 * 1024 * 1024): Promise<string | undefined> {
    const found = await this.resolve(p);
    if (found === undefined || found.isDir) return undefined;
    const st = await lstat(found.host);
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return readFile(found.host, "utf8");
  }

  /** The merged listing of directory `p` (symlinks on the way resolved), sorted by name. */
  async list(p: string): Promise<Entry[]> {
    this.preloadXattrs();
    const dir = await this.resolve(p);
    if (dir === undefined || !dir.isDir) return [];
    let here = [...this.dirs];
    for (const name of dir.path.split("/").filter((c) => c !== "")) here = (await this.child(here, name)).below;
    const seen = new Map<string, Entry>();
    const hidden = new Set<string>();
    for (const [i, layerDir] of here.entries()) {
      const names = await readdir(layerDir).catch(() => [] as string[]);
      for (const name of names) {
        if (name === OPAQUE) continue;
        if (name.startsWith(".wh.")) {
          hidden.add(name.slice(4));
          continue;
        }
        if (seen.has(name) || hidden.has(name)) continue;
        const entry = await this.entry(layerDir, name);
        if (entry === "whiteout") hidden.add(name);
        else if (entry !== undefined) seen.set(name, entry);
      }
      // Opacity only hides layers further down: the last one (a single-layer view's only
      // one) needs no check, which would otherwise cost a helper process per directory.
      if (i < here.length - 1 && (await this.opaqueDir(layerDir))) break;
    }
    return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * `name` inside the merged directory made of `dirs` (its real directories, topmost
   * first): the entry, and the real directories it has further down when it is one.
   */
  private async child(dirs: readonly string[], name: string): Promise<{ entry: Entry | undefined; below: string[] }> {
    let entry: Entry | undefined;
    const below: string[] = [];
    for (const dir of dirs) {
      if (exists(path.join(dir, `.wh.${name}`))) break;
      const here = await this.entry(dir, name);
      if (here === "whiteout") break;
      if (here !== undefined) {
        entry ??= here;
        // A non-directory hides whatever lower layers have under this name.
        if (!entry.isDir || !here.isDir) break;
        below.push(here.host);
        if (dirs.length > 1 && (await this.opaqueDir(here.host))) break;
      }
      if (dirs.length > 1 && (await this.opaqueDir(dir))) break;
    }
    return { entry, below };
  }

  private async entry(dir: string, name: string): Promise<Entry | "whiteout" | undefined> {
    const host = path.join(dir, name);
    let st: BigIntStats;
    try {
      // Synchronous: a walk makes one call per file, and a thread-pool round trip each
      // cost more than the call itself (10,000 files: seconds waiting, not working).
      st = lstatSync(host, { bigint: true });
    } catch (e) {
      if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
      if (errnoCode(e) === "EACCES") {
        throw new TbuildError("permission-denied", `cannot look into ${dir} as this user: a directory of the image is not searchable`, {
          hint: "make the directory searchable by others (chmod o+x) in the step that creates it, or build as root",
        });
      }
      throw e;
    }
    if (isWhiteoutDevice(st)) return "whiteout";
    if (st.isSymbolicLink()) return { name, host, isDir: false, stats: st, link: await readlink(host) };
    return { name, host, isDir: st.isDirectory(), stats: st };
  }

  /**
   * Whether a layer's directory is opaque: the marker file, or overlay's xattr. A
   * point lookup asks about the one directory; a walk (`list`) first reads
   * each layer's attributes in one pass, so it never starts a process per directory.
   */
  private opaqueDir(dir: string): Promise<boolean> {
    const layer = this.dirs.find((d) => dir === d || dir.startsWith(d + path.sep));
    // A committed layer never changes: what was found in it holds for every view of this process.
    const memo = layer !== undefined && !this.writable.has(layer) ? committedOpaque : this.opaque;
    let known = memo.get(dir);
    if (known === undefined) {
      known = (async () => {
        if (exists(path.join(dir, OPAQUE))) return true;
        const tree = layer === undefined ? undefined : await this.layerXattrs.get(layer);
        return isOpaque(tree !== undefined ? tree.get(dir) : (await readXattrs([dir])).get(dir));
      })();
      memo.set(dir, known);
    }
    return known;
  }

  /** Reads every layer's attributes once, ahead of a walk over many directories. */
  private preloadXattrs(): void {
    if (this.dirs.length < 2) return;
    for (const d of this.dirs) {
      if (this.layerXattrs.has(d)) continue;
      const committed = !this.writable.has(d);
      // A layer that cannot be read in one pass falls back to asking per directory.
      const tree = (committed ? committedTrees.get(d) : undefined) ?? readTreeXattrs(d).catch(() => undefined);
      if (committed) committedTrees.set(d, tree);
      this.layerXattrs.set(d, tree);
    }
  }
}

/**
 * Synchronous, as entry()'s lstat: a lookup asks this once per layer and path component
 * (a 27-layer stack, dozens of times per RUN step), and a thread-pool round trip each, queued
 * behind the pool's fsyncs, cost more than the calls.
 */
function exists(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}
