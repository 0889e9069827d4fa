import { createHash } from "node:crypto";
import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, readlink, realpath, rmdir, stat, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import type { IgnoreRules } from "../context/ignore.js";
import { errnoCode, TbuildError } from "../errors.js";
import { mountFields } from "../parser/index.js";
import { withFileLock } from "../file-lock.js";
import { cacheMountDir, cacheMountLock } from "../cache/cache-mounts.js";
import type { MergedView } from "./rootfs.js";
import type { PreparedMount, StepFile } from "../executor/executor.js";
import { overlayMountOptions } from "../userns/namespace.js";
import { readXattrs } from "../snapshotter/xattrs.js";

/** What a RUN step's mounts need from the build. */
export interface MountContext {
  storeRoot: string;
  contextDir: string;
  rules: IgnoreRules;
  scratch: string;
  secrets: Record<string, SecretSource>;
  /** The merged tree of the image being built (where targets land). */
  view: MergedView;
  /** A stage's or image's tree for `from=`, with its cache key. */
  sourceTree: (from: string) => Promise<{ view: MergedView; lowerdirs: string[]; key: string }>;
  /** Fills a cache id's directory this root does not have yet from an imported cache (cache-mounts=true). */
  seedCacheMount?: (id: string, dir: string) => Promise<unknown>;
}

export type SecretSource = { file: string } | { env: string };

const ALLOWED: Record<string, string[]> = {
  cache: ["type", "target", "dst", "destination", "id", "sharing", "mode", "uid", "gid", "ro", "readonly"],
  secret: ["type", "id", "target", "dst", "destination", "required", "mode", "uid", "gid"],
  bind: ["type", "target", "dst", "destination", "source", "src", "from", "ro", "readonly", "rw", "readwrite"],
  tmpfs: ["type", "target", "dst", "destination", "size"],
};

function field(f: Map<string, string>, ...names: string[]): string | undefined {
  for (const n of names) if (f.has(n)) return f.get(n);
  return undefined;
}

function flag(f: Map<string, string>, ...names: string[]): boolean {
  const v = field(f, ...names);
  return v !== undefined && v !== "false";
}

function octal(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  if (!/^[0-7]{1,4}$/.test(text)) throw new TbuildError("invalid-argument", `${what}: mode must be octal, e.g. 0755`);
  return parseInt(text, 8);
}

function number(text: string | undefined, what: string): number {
  if (text === undefined) return 0;
  if (!/^\d+$/.test(text)) throw new TbuildError("invalid-argument", `${what} must be a number`);
  return Number(text);
}

/** A parsed `--mount` value: the fields it has, checked against what its type allows. */
export function parseMount(spec: string): { type: string; fields: Map<string, string> } {
  const fields = mountFields(spec);
  const type = fields.get("type") ?? "bind";
  const allowed = ALLOWED[type];
  if (allowed === undefined) {
    throw new TbuildError("not-implemented", `RUN --mount=type=${type} is not implemented`, { hint: "tbuild supports type=cache, secret, bind and tmpfs" });
  }
  for (const key of fields.keys()) {
    // Every option is allow-listed: a value passed on to mount(8) unchecked is how
    // Buildah's CVE-2024-9407 (bind-propagation=...) happened.
    if (type === "cache" && ["from", "source", "src"].includes(key)) {
      throw new TbuildError("not-implemented", `RUN --mount=type=cache,${key}=... (seeding a cache from a stage) is not implemented`, { hint: "seed the cache in the RUN step itself" });
    }
    if (!allowed.includes(key)) throw new TbuildError("invalid-argument", `RUN --mount=type=${type}: unknown option '${key}'`, { hint: `options for type=${type}: ${allowed.join(", ")}` });
  }
  return { type, fields };
}

/**
 * What of a mount belongs in the step's cache key (never a secret's content). A cache
 * mount's id goes to `onCacheId`, so the build knows every id it names, hit or not.
 */
export async function mountKey(spec: string, keyOf: (from: string) => Promise<string>, onCacheId?: (id: string) => void): Promise<unknown> {
  const { type, fields } = parseMount(spec);
  const base = [...fields].sort(([a], [b]) => (a < b ? -1 : 1));
  if (type === "cache") onCacheId?.(cacheIdOf(fields));
  if (type !== "bind") return base;
  const from = field(fields, "from");
  return { base, from: from === undefined ? "context" : await keyOf(from) };
}

/** A cache mount's id: `id=`, else its target (as BuildKit). */
function cacheIdOf(fields: Map<string, string>): string {
  return field(fields, "id") ?? targetOf(fields, "cache");
}

function targetOf(fields: Map<string, string>, type: string, fallback?: string): string {
  const target = field(fields, "target", "dst", "destination") ?? fallback;
  if (target === undefined || target === "") throw new TbuildError("invalid-argument", `RUN --mount=type=${type} needs target=PATH`);
  return path.posix.resolve("/", target);
}

/**
 * Turns the RUN's `--mount` values into mounts for the helper script, resolving
 * every source inside its own tree (the build context, a stage, the cache store),
 * never through the host's filesystem: a symlink in an image cannot send a bind
 * mount to the host's / (Buildah's CVE-2024-1753), and cache ids are hashed, never
 * used as paths (CVE-2024-9675). Returns the mounts and the locks to hold while the
 * command runs.
 */
export async function prepareMounts(specs: string[], ctx: MountContext): Promise<{ mounts: PreparedMount[]; files: StepFile[]; locks: string[] }> {
  const mounts: PreparedMount[] = [];
  const files: StepFile[] = [];
  const locks: string[] = [];
  for (const spec of specs) {
    const { type, fields } = parseMount(spec);
    const what = `RUN --mount=type=${type}`;
    if (type === "tmpfs") {
      const target = targetOf(fields, type);
      const size = field(fields, "size");
      if (size !== undefined && !/^\d+[kmg]?$/i.test(size)) throw new TbuildError("invalid-argument", `${what}: size=${size} is not a size`, { hint: "e.g. size=64m" });
      mounts.push(await stubbed(ctx.view, { kind: "tmpfs", target, source: "tmpfs", options: size === undefined ? [] : [`size=${size}`], subpath: "" }));
    } else if (type === "cache") {
      const sharing = field(fields, "sharing") ?? "shared";
      if (!["shared", "private", "locked"].includes(sharing)) throw new TbuildError("invalid-argument", `${what}: sharing=${sharing}: use shared, private or locked`);
      const target = targetOf(fields, type);
      const dir = cacheMountDir(ctx.storeRoot, cacheIdOf(fields));
      const mountsDir = path.dirname(dir);
      // mode= is the mode the step sees (mode=0777 is common); behind a 0700 parent no other
      // host user can reach the directory, so it is never world-writable on the host.
      await mkdir(mountsDir, { recursive: true, mode: 0o700 });
      await chmod(mountsDir, 0o700);
      const isNew = (await lstat(dir).catch(() => undefined)) === undefined;
      // First use on this root: an imported cache may bring the contents (cache-mounts=true);
      // the mount's own mode and owner below still apply, as for any new cache.
      if (isNew) await ctx.seedCacheMount?.(cacheIdOf(fields), dir);
      await mkdir(dir, { recursive: true });
      const options = [flag(fields, "ro", "readonly") ? "ro" : "rw"];
      if (isNew) {
        await chmod(dir, octal(field(fields, "mode"), 0o755, what));
        const uid = number(field(fields, "uid"), `${what} uid`);
        const gid = number(field(fields, "gid"), `${what} gid`);
        if (uid !== 0 || gid !== 0) options.push(`chown=${uid}:${gid}`);
      }
      // private is served as locked: one user at a time, which is what it guarantees.
      if (sharing !== "shared") locks.push(cacheMountLock(dir));
      mounts.push(await stubbed(ctx.view, { kind: "dir", target, source: dir, options, subpath: "" }));
    } else if (type === "secret") {
      const id = field(fields, "id");
      if (id === undefined) throw new TbuildError("invalid-argument", `${what} needs id=NAME`, { hint: "and tbuild build --secret id=NAME,src=FILE" });
      const target = targetOf(fields, type, `/run/secrets/${id}`);
      const source = ctx.secrets[id];
      if (source === undefined) {
        if (flag(fields, "required")) throw new TbuildError("not-found", `${what}: secret '${id}' is required but was not given`, { hint: `pass it with --secret id=${id},src=FILE` });
        continue;
      }
      const mode = octal(field(fields, "mode"), 0o400, what);
      const uid = number(field(fields, "uid"), `${what} uid`);
      const gid = number(field(fields, "gid"), `${what} gid`);
      const { existing } = await stubbed(ctx.view, { kind: "file", target, source: "", options: [], subpath: "" });
      files.push({ kind: "file", target, mode, uid, gid, data: await secretBytes(source, id), existing });
    } else {
      const target = targetOf(fields, type);
      const writable = flag(fields, "rw", "readwrite");
      const from = field(fields, "from");
      const source = field(fields, "source", "src") ?? "/";
      mounts.push(await stubbed(ctx.view, from === undefined ? await contextBind(ctx, source, target, writable) : await stageBind(ctx, from, source, target, writable)));
    }
  }
  return { mounts, files, locks };
}

/** A secret's content, read into memory only (the helper puts it on a tmpfs of the step). */
async function secretBytes(source: SecretSource, id: string): Promise<Buffer> {
  if ("env" in source) {
    const value = process.env[source.env];
    if (value === undefined) throw new TbuildError("not-found", `secret '${id}': the environment variable ${source.env} is not set`);
    return Buffer.from(value, "utf8");
  }
  try {
    return await readFile(source.file);
  } catch (e) {
    throw new TbuildError("not-found", `secret '${id}': cannot read ${source.file}${errnoCode(e) === "ENOENT" ? ": no such file" : ""}`);
  }
}

/** Checks the target in the image and records how much of it exists (the rest are stubs). */
async function stubbed(view: MergedView, m: Omit<PreparedMount, "existing">): Promise<PreparedMount> {
  const { existing, problem } = await view.mountTarget(m.target, m.kind === "file" ? "file" : "dir");
  if (problem !== undefined) throw new TbuildError("invalid-argument", `RUN --mount target ${m.target}: ${problem}`, { hint: "mount somewhere that is a plain directory in the image" });
  return { ...m, existing };
}

/**
 * A bind of the build context. With a .dockerignore, the command sees only what
 * COPY would: a tree of hard links (copies across filesystems) to the files kept.
 * Writable binds go through an overlay, so the context itself is never written.
 */
async function contextBind(ctx: MountContext, source: string, target: string, writable: boolean): Promise<Omit<PreparedMount, "existing">> {
  const rel = path.posix.normalize("/" + source).slice(1);
  const root = await realpath(ctx.contextDir);
  let host = path.join(root, rel);
  try {
    host = await realpath(host);
  } catch {
    throw new TbuildError("not-found", `RUN --mount=type=bind: source '${source}' not found in the build context`);
  }
  if (host !== root && !host.startsWith(root + path.sep)) throw new TbuildError("invalid-argument", `RUN --mount=type=bind: source '${source}' leads outside the build context`);
  const st = await stat(host);
  if (ctx.rules.source !== undefined && st.isDirectory()) {
    const farm = path.join(ctx.scratch, `context-${createHash("sha256").update(host + target).digest("hex").slice(0, 12)}`);
    await linkFarm(host, farm, path.relative(root, host).split(path.sep).join("/"), ctx.rules);
    host = farm;
  } else if (ctx.rules.source !== undefined && ctx.rules.ignores(path.relative(root, host).split(path.sep).join("/"))) {
    throw new TbuildError("not-found", `RUN --mount=type=bind: source '${source}' is excluded by .dockerignore`);
  }
  if (!st.isDirectory()) {
    if (!writable) return { kind: "file", target, source: host, options: ["ro"], subpath: "" };
    // A writable file bind gets a private copy: what the step writes is thrown away, as with directories.
    const copy = path.join(ctx.scratch, `rw-file-${createHash("sha256").update(host + target).digest("hex").slice(0, 12)}`);
    await copyFile(host, copy);
    return { kind: "file", target, source: copy, options: ["rw"], subpath: "" };
  }
  if (!writable) return { kind: "dir", target, source: host, options: ["ro"], subpath: "" };
  return writableOverlay(ctx, [host], "", target);
}

async function linkFarm(from: string, to: string, relBase: string, rules: IgnoreRules): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    const rel = relBase === "" ? name : `${relBase}/${name}`;
    const src = path.join(from, name);
    const dst = path.join(to, name);
    const st = await lstat(src);
    if (st.isDirectory()) {
      await linkFarm(src, dst, rel, rules);
      continue;
    }
    if (rules.ignores(rel)) continue;
    if (st.isSymbolicLink()) await symlink(await readlink(src), dst);
    else await link(src, dst).catch(() => copyFile(src, dst));
  }
}

/** A bind of a path inside another stage or image, resolved inside that tree. */
async function stageBind(ctx: MountContext, from: string, source: string, target: string, writable: boolean): Promise<Omit<PreparedMount, "existing">> {
  const tree = await ctx.sourceTree(from);
  const found = await tree.view.resolve(source);
  if (found === undefined) throw new TbuildError("not-found", `RUN --mount=type=bind: source '${source}' not found in ${from}`);
  if (!found.isDir) return { kind: "file", target, source: found.host, options: ["ro"], subpath: "" };
  if (tree.lowerdirs.length === 1 && !writable) return { kind: "dir", target, source: path.join(tree.lowerdirs[0]!, found.path), options: ["ro"], subpath: "" };
  if (writable) return writableOverlay(ctx, tree.lowerdirs, found.path, target);
  const point = await overlayPoint(ctx, tree.lowerdirs.join(":") + target);
  return { kind: "overlay", target, source: path.join(point, "m"), options: [`lowerdir=${tree.lowerdirs.join(":")}`, ...overlayExtras()], subpath: found.path };
}

/** Options every overlay here needs: in a user namespace, overlay keeps its markers in user.* xattrs. */
function overlayExtras(): string[] {
  return overlayMountOptions();
}

/** A mount point for an overlay, in the step's scratch space. */
async function overlayPoint(ctx: MountContext, tag: string): Promise<string> {
  const dir = path.join(ctx.scratch, `ov-${createHash("sha256").update(tag).digest("hex").slice(0, 12)}`);
  await mkdir(path.join(dir, "m"), { recursive: true });
  return dir;
}

async function writableOverlay(ctx: MountContext, lowers: string[], subpath: string, target: string): Promise<Omit<PreparedMount, "existing">> {
  const base = await overlayPoint(ctx, lowers.join(":") + target);
  await mkdir(path.join(base, "upper"));
  await mkdir(path.join(base, "work"));
  const options = [`lowerdir=${lowers.join(":")}`, `upperdir=${base}/upper`, `workdir=${base}/work`, ...overlayExtras()];
  return { kind: "overlay", target, source: path.join(base, "m"), options, subpath };
}

/** Holds every lock (sorted, so two builds never wait on each other crosswise) while `fn` runs. */
export async function withLocks<T>(locks: string[], fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = [...new Set(locks)].sort();
  if (first === undefined) return fn();
  return withFileLock(first, () => withLocks(rest, fn), { timeoutMs: 3_600_000 });
}

/**
 * Removes the mount points the script had to create in the step's writable layer
 * (deepest first), so they are not part of what the command changed. Every
 * component is checked with lstat first: the command may have swapped a stub for a
 * symlink, and cleaning up through it would delete outside the snapshot (BuildKit's
 * CVE-2024-23652).
 */
export async function removeStubs(upper: string, mounts: { kind: string; target: string; existing: number }[]): Promise<void> {
  for (const m of [...mounts].reverse()) {
    const comps = m.target.split("/").filter((c) => c !== "");
    for (let depth = comps.length; depth > m.existing; depth--) {
      const rel = comps.slice(0, depth);
      if (!(await plainPath(upper, rel))) break;
      const p = path.join(upper, ...rel);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined) continue;
      if (st.isDirectory()) {
        if ((await rmdir(p).then(() => true, () => false)) === false) break;
      } else if (st.isFile() && st.size === 0 && depth === comps.length && m.kind === "file") {
        await unlink(p);
      } else break;
    }
  }
}

/**
 * With the overlay snapshotter, making a mount point inside a directory the image
 * already had (/etc for /etc/hosts) copies that directory up into the step's upperdir;
 * once the stub is gone, the empty copy would still put the directory into the layer.
 * Such a copy is removed again when it is empty, not opaque and has the image's owner
 * and mode: then the command did not change it (only its mtime, which our stub moved).
 */
export async function removeCopiedUpDirs(upper: string, lower: MergedView, mounts: { target: string; existing: number }[]): Promise<void> {
  const seen = new Set<string>();
  for (const m of mounts) {
    const comps = m.target.split("/").filter((c) => c !== "");
    for (let depth = Math.min(m.existing, comps.length - 1); depth > 0; depth--) {
      const rel = comps.slice(0, depth);
      const key = rel.join("/");
      if (seen.has(key)) continue;
      seen.add(key);
      if (!(await plainPath(upper, [...rel, ""]))) break;
      const p = path.join(upper, ...rel);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined || !st.isDirectory() || (await readdir(p)).length > 0) break;
      const image = await lower.resolve("/" + key);
      const imageSt = image === undefined || !image.isDir ? undefined : await lstat(image.host).catch(() => undefined);
      if (imageSt === undefined || imageSt.mode !== st.mode || imageSt.uid !== st.uid || imageSt.gid !== st.gid) break;
      const attrs = (await readXattrs([p])).get(p);
      if ([...(attrs?.keys() ?? [])].some((k) => k.endsWith("overlay.opaque"))) break;
      await rmdir(p).catch(() => undefined);
    }
  }
}

async function plainPath(root: string, comps: string[]): Promise<boolean> {
  for (let i = 1; i < comps.length; i++) {
    const st = await lstat(path.join(root, ...comps.slice(0, i))).catch(() => undefined);
    if (st === undefined || st.isSymbolicLink() || !st.isDirectory()) return false;
  }
  return true;
}
