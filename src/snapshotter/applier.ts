/**
 * Extracts a layer tar into a directory with OCI whiteout semantics, never writing
 * outside it. Two whiteout modes, as containerd's converters:
 *  - "remove": the target is a full tree (native snapshots); `.wh.x` deletes `x`,
 *    `.wh..wh..opq` empties the directory except what this layer already put there.
 *  - "overlay": the target is an empty directory that becomes an overlay lowerdir;
 *    `.wh.x` becomes a 0/0 character device and `.wh..wh..opq` an `overlay.opaque=y`
 *    xattr, which is what overlayfs itself writes into an upperdir. Entries are checked
 *    against the layers below (`lowers`), so a layer sequence is refused or accepted, and
 *    shows the same tree, as in "remove" mode: a path through a lower symlink or file is
 *    refused, a hard link to a lower file copies that file up (as the kernel does), a
 *    directory made implicitly keeps the lower one's owner and mode, and a name whited
 *    out earlier in the layer comes back as an opaque directory.
 *
 * Must run privileged (root, or root of the namespace helper) for ownership; see
 * `applyLayerIsolated` for the entry point that arranges that.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeSync, type Stats } from "node:fs";
import { chmod, chown, link, lstat, lchown, lutimes, mkdir, open, readdir, rm, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { FileHandle } from "node:fs/promises";
import type tar from "tar-stream";
import { TbuildError, errnoCode } from "../errors.js";
import { isWhiteoutDevice } from "./changes.js";
import { decompressed } from "./compression.js";
import { MergedView } from "./merged-view.js";
import { nsRun, overlayXattrPrefix } from "../userns/namespace.js";
import { UnsafeEntryError, entryComponents, existingDir, safeDir } from "./tar-path.js";
import { writeXattrs, isOverlayPrivate, type XattrRecord } from "./xattrs.js";

export type WhiteoutMode = "remove" | "overlay";

export interface ApplyOptions {
  /** Names the layer in errors and warnings (a digest or file name). */
  layer: string;
  whiteouts: WhiteoutMode;
  /**
   * For "overlay": the layer directories below the target, topmost first. Entries are
   * checked against what they show, so a layer is refused or accepted as on a full tree.
   */
  lowers?: string[];
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar. */
  diffID: string;
  /** Uncompressed size. */
  size: number;
  /** Entries that could not be reproduced exactly here (device nodes without privilege, ...). */
  warnings: string[];
}

type Header = Omit<tar.Header, "pax"> & { pax?: Record<string, string> | null };

const XATTR_PAX = "SCHILY.xattr.";

/**
 * Files up to this size are written with synchronous calls on the extracting thread (their
 * body is gathered first): an unpacked file's open, write, chown, chmod, utimes and close
 * are six thread-pool round trips otherwise, one file after the other, which for a layer of
 * 5,000 small files took ~4 s of a cold w1 build. Larger files are streamed as before.
 */
const WRITE_WHOLE = 256 * 1024;

export async function applyLayer(root: string, input: Readable, o: ApplyOptions): Promise<ApplyResult> {
  await mkdir(root, { recursive: true });
  const tarStream = await decompressed(input, `layer ${o.layer}`);
  const hash = createHash("sha256");
  let size = 0;
  const x = new Extractor(root, o);
  // Loaded on first use: a build whose steps are all cached never reads or writes a tar.
  const { default: tarLib } = await import("tar-stream");
  const extract = tarLib.extract();
  // Fed by hand rather than piped: the diffID must cover every byte, including the
  // zero blocks after the end-of-archive marker that the extractor ignores.
  const feed = (async () => {
    for await (const chunk of tarStream) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (!extract.write(chunk as Buffer)) {
        // "close": destroyed after a refused entry, so stop feeding. Whichever comes
        // first removes the other listener, or every full buffer would leave one behind.
        await new Promise<void>((r) => {
          const done = (): void => {
            extract.off("drain", done);
            extract.off("close", done);
            r();
          };
          extract.once("drain", done);
          extract.once("close", done);
        });
      }
      if (extract.destroyed) return;
    }
    (extract as unknown as NodeJS.WritableStream).end();
  })();
  try {
    for await (const entry of extract) await x.entry(entry.header as Header, entry);
    await feed;
    await x.finish();
  } catch (e) {
    extract.destroy();
    tarStream.destroy();
    await feed.catch(() => undefined);
    throw wrap(e, o.layer);
  }
  return { diffID: `sha256:${hash.digest("hex")}`, size, warnings: x.warnings };
}

function wrap(e: unknown, layer: string): unknown {
  if (e instanceof TbuildError) return e;
  const code = errnoCode(e);
  if (code === "EINVAL" || code === "EPERM") {
    return new TbuildError("permission-denied", `layer ${layer}: cannot set file ownership: ${(e as Error).message}`, {
      cause: e,
      hint: "the layer uses user or group ids outside this user's subordinate range; widen the range in /etc/subuid and /etc/subgid (65536 ids cover every image)",
    });
  }
  if (code === "ENOSPC") return new TbuildError("unavailable", `layer ${layer}: the disk is full`, { cause: e });
  return new TbuildError("failed-precondition", `layer ${layer}: cannot be extracted: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
    hint: "the layer is corrupt or truncated; pull it again",
  });
}

class Extractor {
  readonly warnings: string[] = [];
  /** Directories verified (or made) in this layer; see safeDir. */
  private known = new Set<string>();
  /** Paths this layer wrote, and their ancestors: an opaque marker must not delete them. */
  private readonly touched = new Set<string>();
  /** Directory metadata is set last: writing inside a directory changes its mtime. */
  private readonly dirs: { rel: string; mode: number; mtime: Date }[] = [];
  private readonly xattrs: { rel: string; attrs: [string, Buffer][] }[] = [];
  /** "overlay": the layers below, and the paths of theirs this layer has hidden (whiteouts, non-directories, opaque directories' children). */
  private readonly below: MergedView | undefined;
  private readonly hidden = new Set<string>();
  private readonly opaqueDirs = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly o: ApplyOptions,
  ) {
    this.below = o.whiteouts === "overlay" && o.lowers !== undefined && o.lowers.length > 0 ? new MergedView(o.lowers) : undefined;
  }

  /** Whether the layers below still show `rel` through this layer. */
  private lowerVisible(rel: string): boolean {
    if (this.opaqueDirs.has("")) return false;
    const comps = rel.split("/");
    for (let i = 1; i <= comps.length; i++) {
      const a = comps.slice(0, i).join("/");
      if (this.hidden.has(a) || (i < comps.length && this.opaqueDirs.has(a))) return false;
    }
    return true;
  }

  private async lower(rel: string): Promise<{ host: string; kind: "dir" | "symlink" | "other" } | undefined> {
    return this.below !== undefined && this.lowerVisible(rel) ? this.below.lookup(rel) : undefined;
  }

  private makeOpaque(rel: string): void {
    this.opaqueDirs.add(rel);
    this.xattrs.push({ rel, attrs: [[`${overlayXattrPrefix()}opaque`, Buffer.from("y")]] });
  }

  /**
   * The directory `comps` in the target, made where missing. With no layers below this is
   * safeDir; with them, a missing component is looked up below: refused as safeDir refuses
   * a symlink or non-directory there, and copied up (owner, mode, times) when a directory.
   */
  private async dir(comps: readonly string[], fail: (reason: string) => Error): Promise<string> {
    if (this.below === undefined) return safeDir(this.root, comps, this.known, fail);
    let abs = this.root;
    let rel = "";
    for (const c of comps) {
      abs = join(abs, c);
      rel = rel === "" ? c : `${rel}/${c}`;
      if (this.known.has(rel)) continue;
      const st = await lstat(abs).catch((e: unknown) => {
        if (errnoCode(e) === "ENOENT") return undefined;
        throw e;
      });
      if (st !== undefined && isWhiteoutDevice(st)) {
        // Deleted earlier in this layer: it comes back empty, hiding the layers below.
        await rm(abs);
        await mkdir(abs, { mode: 0o755 });
        this.makeOpaque(rel);
      } else if (st !== undefined) {
        if (st.isSymbolicLink()) throw fail(`goes through the symlink '${rel}'`);
        if (!st.isDirectory()) throw fail(`goes through '${rel}', which is not a directory`);
      } else {
        const below = await this.lower(rel);
        if (below?.kind === "symlink") throw fail(`goes through the symlink '${rel}'`);
        if (below !== undefined && below.kind !== "dir") throw fail(`goes through '${rel}', which is not a directory`);
        await mkdir(abs, { mode: 0o755 });
        if (below !== undefined) await copyUpDir(below.host, abs);
      }
      this.known.add(rel);
    }
    return abs;
  }

  private unsafe(name: string, reason: string): UnsafeEntryError {
    return new UnsafeEntryError(this.o.layer, name, reason);
  }

  private components(name: string): string[] {
    const c = entryComponents(name);
    if (!Array.isArray(c)) throw this.unsafe(name, c.unsafe);
    return c;
  }

  private touch(rel: string): void {
    let r = rel;
    while (r !== "" && !this.touched.has(r)) {
      this.touched.add(r);
      const i = r.lastIndexOf("/");
      r = i < 0 ? "" : r.slice(0, i);
    }
  }

  /** Deletes whatever is at abs (never following a symlink) and forgets cached directories. */
  private async removePath(abs: string): Promise<void> {
    await rm(abs, { recursive: true, force: true });
    this.known = new Set();
  }

  async entry(h: Header, body: AsyncIterable<unknown>): Promise<void> {
    const comps = this.components(h.name);
    if (comps.length === 0) return; // the root itself: its metadata belongs to the snapshot
    const base = comps[comps.length - 1] as string;
    const parentComps = comps.slice(0, -1);
    const parent = await this.dir(parentComps, (r) => this.unsafe(h.name, r));
    const parentRel = parentComps.join("/");
    const rel = comps.join("/");

    if (base === ".wh..wh..opq") return this.opaque(parent, parentRel);
    if (base.startsWith(".wh.")) {
      // Checked before any join: path.join would turn ".." or "." into a parent directory.
      const hidden = base.slice(4);
      if (hidden === "" || hidden === "." || hidden === "..") throw this.unsafe(h.name, "is a whiteout for an invalid name");
      this.hidden.add(parentRel === "" ? hidden : `${parentRel}/${hidden}`);
      return this.whiteout(join(parent, hidden));
    }

    const abs = join(parent, base);
    const existing = lstatOrUndefined(abs);
    if (existing !== undefined && !(h.type === "directory" && existing.isDirectory())) await this.removePath(abs);
    this.touch(rel);
    if (this.below !== undefined) {
      // A directory where this layer deleted the name starts empty; a non-directory hides all below it.
      if (h.type === "directory" && existing !== undefined && isWhiteoutDevice(existing)) this.makeOpaque(rel);
      if (h.type !== "directory") this.hidden.add(rel);
    }
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date(0);
    const uid = h.uid ?? 0;
    const gid = h.gid ?? 0;

    switch (h.type) {
      case "directory":
        if (existing === undefined || !existing.isDirectory()) mkdirSync(abs, { mode: 0o700 });
        this.known.add(rel);
        lchownSync(abs, uid, gid);
        this.dirs.push({ rel, mode, mtime });
        break;
      case "file":
      case "contiguous-file": {
        if ((h.size ?? 0) <= WRITE_WHOLE) {
          const chunks: Buffer[] = [];
          for await (const chunk of body) chunks.push(chunk as Buffer);
          writeWhole(abs, chunks, uid, gid, mode, mtime);
          break;
        }
        const fh = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) await writeAll(fh, chunk as Buffer);
          await fh.chown(uid, gid);
          await fh.chmod(mode); // after chown, which clears setuid bits
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        break;
      }
      case "symlink":
        // Link text is data: it is never followed while extracting, so any target is fine.
        symlinkSync(h.linkname ?? "", abs);
        lchownSync(abs, uid, gid);
        lutimesSync(abs, mtime, mtime);
        break;
      case "link": {
        const target = this.components(h.linkname ?? "");
        if (target.length === 0) throw this.unsafe(h.name, "is a hard link to the root directory");
        const dir = await this.dir(target.slice(0, -1), (r) => this.unsafe(h.name, `links to '${h.linkname}', which ${r}`));
        const targetAbs = join(dir, target[target.length - 1] as string);
        let st = await lstat(targetAbs).catch(() => undefined);
        if (st === undefined) {
          // Linking a lower layer's file copies it up into this layer first, as overlayfs does.
          const below = await this.lower(target.join("/"));
          if (below !== undefined && below.kind !== "dir") {
            await nsRun("cp", ["-a", "--reflink=auto", below.host, targetAbs], `copying up '${h.linkname}' for the hard link '${h.name}'`);
            st = await lstat(targetAbs);
          }
        }
        if (st === undefined || isWhiteoutDevice(st)) throw this.unsafe(h.name, `is a hard link to '${h.linkname}', which does not exist (yet)`);
        if (st.isDirectory()) throw this.unsafe(h.name, `is a hard link to the directory '${h.linkname}'`);
        await link(targetAbs, abs);
        break;
      }
      case "character-device":
      case "block-device":
      case "fifo":
        await this.node(abs, h);
        break;
      default:
        this.warnings.push(`layer ${this.o.layer}: entry '${h.name}' has unsupported type ${String(h.type)}; skipped`);
        return;
    }
    // overlay's own xattrs (opaque, redirect) from a layer would make the kernel's view
    // and ours disagree: they are never an image's to set.
    const attrs = Object.entries(h.pax ?? {})
      .filter(([k]) => k.startsWith(XATTR_PAX) && !isOverlayPrivate(k.slice(XATTR_PAX.length)))
      .map(([k, v]): [string, Buffer] => [k.slice(XATTR_PAX.length), Buffer.from(v, "utf8")]);
    if (attrs.length > 0) this.xattrs.push({ rel, attrs });
  }

  private async node(abs: string, h: Header): Promise<void> {
    const kind = h.type === "fifo" ? "p" : h.type === "block-device" ? "b" : "c";
    const args = kind === "p" ? [abs, "p"] : [abs, kind, String(h.devmajor ?? 0), String(h.devminor ?? 0)];
    try {
      await nsRun("mknod", ["-m", ((h.mode ?? 0o644) & 0o7777).toString(8), ...args], `creating ${h.name}`);
    } catch {
      this.warnings.push(
        `layer ${this.o.layer}: entry '${h.name}' is a ${h.type} ${h.devmajor ?? 0}:${h.devminor ?? 0} that cannot be created without real root; skipped (a runtime provides /dev nodes)`,
      );
      return;
    }
    await lchown(abs, h.uid ?? 0, h.gid ?? 0);
    const mtime = h.mtime ?? new Date(0);
    await lutimes(abs, mtime, mtime);
  }

  private async whiteout(abs: string): Promise<void> {
    await this.removePath(abs);
    if (this.o.whiteouts === "overlay") await nsRun("mknod", [abs, "c", "0", "0"], `creating the whiteout ${abs}`);
  }

  private async opaque(dir: string, rel: string): Promise<void> {
    if (this.o.whiteouts === "overlay") {
      // Written with the layer's other xattrs in finish(): one helper process for the whole layer.
      this.makeOpaque(rel);
      return;
    }
    for (const name of await readdir(dir)) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      if (!this.touched.has(childRel)) await this.removePath(join(dir, name));
    }
  }

  /**
   * Extended attributes, then directory modes and times, applied after every entry.
   * Paths are resolved again (a later entry may have replaced a directory by a symlink),
   * and directories are opened with O_NOFOLLOW, so nothing is changed outside the root.
   */
  async finish(): Promise<void> {
    const records: XattrRecord[] = [];
    for (const { rel, attrs } of this.xattrs) {
      const comps = rel.split("/");
      const dir = await existingDir(this.root, comps.slice(0, -1));
      if (dir === undefined) continue;
      const abs = join(dir, comps[comps.length - 1] as string);
      if ((await lstat(abs).catch(() => undefined)) === undefined) continue;
      for (const [name, value] of attrs) {
        if (value.includes(Buffer.from("\uFFFD"))) {
          this.warnings.push(`layer ${this.o.layer}: xattr ${name} on '${rel}' has a binary value the tar reader cannot decode; skipped`);
        }
      }
      records.push({ path: abs, attrs: attrs.filter(([, v]) => !v.includes(Buffer.from("\uFFFD"))) });
    }
    await writeXattrs(records, `layer ${this.o.layer}: setting extended attributes`);
    for (const d of this.dirs.reverse()) {
      const dir = await existingDir(this.root, d.rel.split("/"));
      if (dir === undefined) continue;
      const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch(() => undefined);
      if (fh === undefined) continue;
      try {
        await fh.chmod(d.mode);
        await fh.utimes(d.mtime, d.mtime);
      } finally {
        await fh.close();
      }
    }
  }
}

/** overlayfs's copy-up of a directory: owner, mode and times of the lower one (its entries stay below). */
async function copyUpDir(lower: string, upper: string): Promise<void> {
  const st = await lstat(lower);
  await chown(upper, st.uid, st.gid);
  await chmod(upper, st.mode & 0o7777);
  await utimes(upper, st.atime, st.mtime);
}

/** lstat that says undefined for a path that cannot be looked at (missing, or under a non-directory). */
function lstatOrUndefined(abs: string): Stats | undefined {
  try {
    return lstatSync(abs);
  } catch {
    return undefined;
  }
}

/** A new file with `chunks` as content, owned, moded and timed as the entry says (see WRITE_WHOLE). */
function writeWhole(abs: string, chunks: readonly Buffer[], uid: number, gid: number, mode: number, mtime: Date): void {
  const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (const chunk of chunks) for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    fchownSync(fd, uid, gid);
    fchmodSync(fd, mode); // after chown, which clears setuid bits
    futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
}
