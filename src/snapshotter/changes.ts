/**
 * Change sets: what a layer must contain to turn a parent tree into a child tree.
 *
 * Both drivers yield the same canonical sequence, so equal edits give byte-equal layers:
 *  - depth first, siblings sorted by their tar name bytes, a directory before its children;
 *  - every changed entry plus each of its ancestor directories;
 *  - a directory whose parent-side children are all gone gets `.wh..wh..opq` (and its
 *    new children in full); otherwise each vanished child gets `.wh.<name>`.
 * The overlay walker reads the upperdir alone, consulting the lower layers only for the
 * listing of directories that contain whiteouts or are opaque.
 */
import { createHash } from "node:crypto";
import { createReadStream, type BigIntStats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { isOverlayPrivate, readTreeXattrs, readXattrs, type Xattrs } from "./xattrs.js";

/**
 * The lstat fields a layer entry is written from. A COPY's entries carry only these (see
 * builder/copy.ts), not a whole BigIntStats each with its four Dates.
 */
export type EntryStats = Pick<
  BigIntStats,
  "mode" | "uid" | "gid" | "size" | "mtimeNs" | "nlink" | "dev" | "ino" | "rdev" | "isFile" | "isDirectory" | "isSymbolicLink" | "isCharacterDevice" | "isBlockDevice" | "isFIFO"
>;

export type Change =
  | { kind: "add"; path: string; abs: string; st: EntryStats; xattrs: [string, Buffer][] }
  | { kind: "whiteout"; path: string };

export const OPAQUE = ".wh..wh..opq";

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function childPath(rel: string, name: string): string {
  return rel === "" ? name : `${rel}/${name}`;
}

/** Image-relevant attributes in a stable order. */
function imageXattrs(x: Xattrs | undefined): [string, Buffer][] {
  if (x === undefined) return [];
  return [...x].filter(([k]) => !isOverlayPrivate(k)).sort(([a], [b]) => byBytes(a, b));
}

/** overlay's whiteout: a 0/0 character device. */
export function isWhiteoutDevice(st: { isCharacterDevice(): boolean; rdev: number | bigint }): boolean {
  return st.isCharacterDevice() && Number(st.rdev) === 0;
}

/** overlay's opaque-directory xattr, in whichever namespace the mount used. */
export function isOpaque(x: Xattrs | undefined): boolean {
  const v = x?.get("trusted.overlay.opaque") ?? x?.get("user.overlay.opaque");
  return v !== undefined && v.toString("latin1") === "y";
}

type Item = { name: string; marker: true } | { name: string; marker: false; abs: string; st: BigIntStats };

async function entries(dir: string): Promise<{ name: string; abs: string; st: BigIntStats }[]> {
  const names = await readdir(dir);
  return Promise.all(names.map(async (name) => ({ name, abs: join(dir, name), st: await lstat(join(dir, name), { bigint: true }) })));
}

/**
 * Names visible in directory `rel` of the merged lower layers (topmost first): a layer
 * contributes its entries unless a higher layer whited them out; a non-directory or an
 * opaque directory on the way hides every layer below it.
 */
async function lowerVisible(lowers: readonly string[], rel: string): Promise<Set<string>> {
  const comps = rel === "" ? [] : rel.split("/");
  const decided = new Map<string, boolean>();
  for (const layer of lowers) {
    let abs = layer;
    let complete = true;
    let blocked = false;
    const dirs: string[] = [];
    for (const c of comps) {
      abs = join(abs, c);
      const st = await lstat(abs).catch(() => undefined);
      if (st === undefined) {
        complete = false;
        break;
      }
      if (!st.isDirectory()) {
        blocked = true;
        break;
      }
      dirs.push(abs);
    }
    if (blocked) break;
    if (complete) {
      for (const name of await readdir(abs)) {
        if (!decided.has(name)) decided.set(name, !isWhiteoutDevice(await lstat(join(abs, name))));
      }
    }
    const xa = await readXattrs(dirs);
    if (dirs.some((d) => isOpaque(xa.get(d)))) break;
  }
  return new Set([...decided].filter(([, visible]) => visible).map(([n]) => n));
}

/** Changes recorded in an overlay upperdir on top of `lowers` (topmost first). */
export async function* overlayChanges(upper: string, lowers: readonly string[]): AsyncGenerator<Change> {
  const xattrs = await readTreeXattrs(upper);

  async function* walk(rel: string, inheritedOpaque: boolean): AsyncGenerator<Change> {
    const dirAbs = join(upper, rel);
    const all = await entries(dirAbs);
    const whiteNames = all.filter((e) => isWhiteoutDevice(e.st)).map((e) => e.name);
    const real = all.filter((e) => !isWhiteoutDevice(e.st));
    const effOpaque = inheritedOpaque || (rel !== "" && isOpaque(xattrs.get(dirAbs)));
    const lowerNames = effOpaque || whiteNames.length > 0 ? await lowerVisible(lowers, rel) : new Set<string>();
    const realNames = new Set(real.map((e) => e.name));
    const hidden = effOpaque ? [...lowerNames].filter((n) => !realNames.has(n)) : whiteNames.filter((n) => lowerNames.has(n));
    const allHidden = lowerNames.size > 0 && hidden.length === lowerNames.size;
    const items: Item[] = [
      ...real.map((e): Item => ({ ...e, marker: false })),
      ...(allHidden ? [OPAQUE] : hidden.map((n) => `.wh.${n}`)).map((name): Item => ({ name, marker: true })),
    ].sort((a, b) => byBytes(a.name, b.name));
    for (const item of items) {
      const path = childPath(rel, item.name);
      if (item.marker) {
        yield { kind: "whiteout", path };
        continue;
      }
      yield { kind: "add", path, abs: item.abs, st: item.st, xattrs: imageXattrs(xattrs.get(item.abs)) };
      if (item.st.isDirectory()) yield* walk(path, effOpaque && lowerNames.has(item.name));
    }
  }
  yield* walk("", false);
}

async function fileHash(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Changes from tree `lower` (absent: empty) to tree `upper`, by walking both. */
export async function* nativeChanges(lower: string | undefined, upper: string): AsyncGenerator<Change> {
  const [lx, ux] = await Promise.all([lower === undefined ? new Map<string, Xattrs>() : readTreeXattrs(lower), readTreeXattrs(upper)]);

  async function same(rel: string, a: BigIntStats, b: BigIntStats): Promise<boolean> {
    // nlink too: a new hard link to an old file must bring the old path into the layer, as overlay's copy-up does.
    if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtimeNs !== b.mtimeNs || a.nlink !== b.nlink) return false;
    const la = imageXattrs(lx.get(join(lower as string, rel)));
    const lb = imageXattrs(ux.get(join(upper, rel)));
    if (la.length !== lb.length || la.some(([k, v], i) => lb[i]?.[0] !== k || !v.equals(lb[i]?.[1] as Buffer))) return false;
    if (b.isSymbolicLink()) return (await readlink(join(lower as string, rel))) === (await readlink(join(upper, rel)));
    if (b.isCharacterDevice() || b.isBlockDevice()) return a.rdev === b.rdev;
    if (!b.isFile()) return true;
    if (a.size !== b.size) return false;
    // A whole-second mtime was probably set explicitly (tar, touch -d), so it proves nothing: compare content.
    if (b.mtimeNs % 1_000_000_000n === 0n) return (await fileHash(join(lower as string, rel))) === (await fileHash(join(upper, rel)));
    return true;
  }

  async function* compare(rel: string, lowerIsDir: boolean): AsyncGenerator<Change> {
    const now = await entries(join(upper, rel));
    const before = lowerIsDir && lower !== undefined ? await readdir(join(lower, rel)) : [];
    const nowNames = new Set(now.map((e) => e.name));
    const opaque = before.length > 0 && before.every((n) => !nowNames.has(n));
    const beforeNames = new Set(opaque ? [] : before);
    const markers = opaque ? [OPAQUE] : before.filter((n) => !nowNames.has(n)).map((n) => `.wh.${n}`);
    const items: Item[] = [...now.map((e): Item => ({ ...e, marker: false })), ...markers.map((name): Item => ({ name, marker: true }))].sort((a, b) =>
      byBytes(a.name, b.name),
    );
    for (const item of items) {
      const path = childPath(rel, item.name);
      if (item.marker) {
        yield { kind: "whiteout", path };
        continue;
      }
      const add: Change = { kind: "add", path, abs: item.abs, st: item.st, xattrs: imageXattrs(ux.get(item.abs)) };
      const prev = beforeNames.has(item.name) ? await lstat(join(lower as string, path), { bigint: true }) : undefined;
      if (item.st.isDirectory()) {
        const sub = compare(path, prev?.isDirectory() ?? false);
        const first = await sub.next();
        if (!first.done || prev === undefined || !(await same(path, prev, item.st))) yield add;
        if (!first.done) {
          yield first.value;
          yield* sub;
        }
      } else if (prev === undefined || !(await same(path, prev, item.st))) {
        yield add;
      }
    }
  }
  yield* compare("", lower !== undefined);
}
