import { createHash, randomBytes } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import type { ContentStore } from "../cache/content-store.js";
import { errnoCode, isTbuildError, TbuildError } from "../errors.js";
import type { LayerDescriptor } from "../snapshotter/differ.js";
import type { Mount, Snapshotter } from "../snapshotter/snapshotter.js";

export type Layer = LayerDescriptor;

/** OCI ChainIDs: the identity of a stack of layers, used to name committed snapshots. */
export function chainIds(diffIDs: readonly string[]): string[] {
  const ids: string[] = [];
  for (const diffID of diffIDs) {
    const prev = ids[ids.length - 1];
    ids.push(prev === undefined ? diffID : `sha256:${createHash("sha256").update(`${prev} ${diffID}`).digest("hex")}`);
  }
  return ids;
}

/**
 * Makes sure a committed snapshot exists for every prefix of `layers` (named by
 * ChainID), applying missing layers from the content store. Returns the top
 * snapshot's name, or undefined for no layers. Concurrent callers for the same chain
 * share the work.
 */
export class RootfsPreparer {
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly snapshotter: Snapshotter,
    private readonly content: ContentStore,
  ) {}

  async ensure(layers: readonly Layer[]): Promise<string | undefined> {
    const chain = chainIds(layers.map((l) => l.diffID));
    for (let i = 0; i < layers.length; i++) {
      const name = chain[i]!;
      let job = this.inflight.get(name);
      if (job === undefined) {
        job = this.unpack(name, i === 0 ? undefined : chain[i - 1], layers[i]!);
        this.inflight.set(name, job);
      }
      await job;
    }
    return chain[chain.length - 1];
  }

  private async unpack(name: string, parent: string | undefined, layer: Layer): Promise<void> {
    if (await this.exists(name)) return;
    const key = `extract-${randomBytes(6).toString("hex")}`;
    await this.snapshotter.prepare(key, parent);
    try {
      await this.snapshotter.apply(key, this.content.openRead(layer.digest), { layer: layer.digest });
      await this.snapshotter.commit(name, key);
    } catch (e) {
      await this.snapshotter.remove(key).catch(() => undefined);
      // Another process committed the same chain first: theirs is as good as ours.
      if (isTbuildError(e, "already-exists") && (await this.exists(name))) return;
      throw e;
    }
  }

  private async exists(name: string): Promise<boolean> {
    try {
      await this.snapshotter.stat(name);
      return true;
    } catch (e) {
      if (isTbuildError(e, "not-found")) return false;
      throw e;
    }
  }
}

/**
 * Read-only lookups in the merged tree of a view, without mounting it: the layer
 * directories are consulted top-down with overlay's rules (whiteouts, opaque
 * directories), and symlinks resolve inside the image root.
 */
export class MergedView {
  constructor(private readonly dirs: readonly string[]) {}

  /** The layer directories, topmost first (an overlay's lowerdir order). */
  get layerDirs(): string[] {
    return [...this.dirs];
  }

  static fromMounts(mounts: readonly Mount[]): MergedView {
    const m = mounts[0];
    if (m === undefined) return new MergedView([]);
    if (m.type === "bind") return new MergedView([m.source]);
    const lower = m.options.find((o) => o.startsWith("lowerdir="))?.slice("lowerdir=".length) ?? "";
    const upper = m.options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length);
    return new MergedView([...(upper === undefined ? [] : [upper]), ...lower.split(":").filter((d) => d !== "")]);
  }

  /** Host path of the topmost layer's copy of `p` (symlinks followed inside the root), or undefined. */
  async resolve(p: string, depth = 0): Promise<{ host: string; isDir: boolean; path: string } | undefined> {
    if (depth > 40) return undefined;
    const comps = path.posix.normalize("/" + p).split("/").filter((c) => c !== "");
    let resolved: string[] = [];
    for (let i = 0; i < comps.length; i++) {
      const candidate = [...resolved, comps[i]!];
      const found = await this.lookup(candidate);
      if (found === undefined) return undefined;
      if (found.link !== undefined) {
        const target = found.link.startsWith("/") ? found.link : path.posix.join("/", ...resolved, found.link);
        const rest = comps.slice(i + 1).join("/");
        return this.resolve(path.posix.join(target, rest), depth + 1);
      }
      resolved = candidate;
      if (i === comps.length - 1) return { host: found.host, isDir: found.isDir, path: "/" + resolved.join("/") };
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
    for (let i = 0; i < comps.length; i++) {
      const found = await this.lookup(comps.slice(0, i + 1));
      if (found === undefined) return { existing: i };
      const shown = "/" + comps.slice(0, i + 1).join("/");
      if (found.link !== undefined) return { existing: i, problem: `${shown} is a symlink in the image` };
      const last = i === comps.length - 1;
      if (!found.isDir && !(last && kind === "file")) return { existing: i, problem: `${shown} is not a directory in the image` };
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

  /**
   * The merged listing of directory `p` (resolved), as overlay would show it: each
   * layer adds the names it has, minus whiteouts, down to an opaque directory or a
   * layer where `p` is not a directory. Entries carry the topmost copy's host path.
   */
  async list(p: string): Promise<{ name: string; host: string; isDir: boolean; link?: string }[]> {
    const dir = await this.resolve(p);
    if (dir === undefined || !dir.isDir) return [];
    const comps = path.posix.normalize("/" + p).split("/").filter((c) => c !== "");
    const seen = new Map<string, { name: string; host: string; isDir: boolean; link?: string }>();
    const hidden = new Set<string>();
    for (const layer of this.dirs) {
      const here = path.join(layer, ...comps);
      let names: string[];
      try {
        if (!(await lstat(here)).isDirectory()) break;
        names = await readdir(here);
      } catch {
        continue;
      }
      for (const name of names) {
        if (name === ".wh..wh..opq") continue;
        if (name.startsWith(".wh.")) {
          hidden.add(name.slice(4));
          continue;
        }
        if (seen.has(name) || hidden.has(name)) continue;
        const st = await lstat(path.join(here, name));
        if (st.isCharacterDevice() && st.rdev === 0) {
          hidden.add(name);
          continue;
        }
        const host = path.join(here, name);
        seen.set(name, { name, host, isDir: st.isDirectory(), ...(st.isSymbolicLink() ? { link: await readlink(host) } : {}) });
      }
      if (names.includes(".wh..wh..opq")) break;
    }
    return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async lookup(comps: string[]): Promise<{ host: string; isDir: boolean; link?: string } | undefined> {
    const rel = comps.join("/");
    const parent = comps.slice(0, -1).join("/");
    const name = comps[comps.length - 1]!;
    for (const dir of this.dirs) {
      if (await exists(path.join(dir, parent, `.wh.${name}`))) return undefined;
      let st;
      try {
        st = await lstat(path.join(dir, rel));
      } catch (e) {
        if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") {
          if (await exists(path.join(dir, parent, ".wh..wh..opq"))) return undefined;
          continue;
        }
        throw e;
      }
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      if (st.isSymbolicLink()) return { host: path.join(dir, rel), isDir: false, link: await readlink(path.join(dir, rel)) };
      return { host: path.join(dir, rel), isDir: st.isDirectory() };
    }
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
