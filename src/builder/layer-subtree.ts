/**
 * COPY --from of a directory that one layer of the source holds alone (a stage's
 * `COPY ctx/ /ctx/`, then `COPY --from=that /ctx/ /app/ctx/`): the layer's tar already
 * has every entry of that directory, in the order a COPY layer lists them. Its
 * entries are streamed from the stored blob, renamed and owned as COPY says, into
 * the new layer, and the cache key is computed from the same stream: the source
 * stage's snapshot is never unpacked, walked or read file by file.
 *
 * Both give exactly what unpacking and walking would give (same key, same layer bytes),
 * so anything this cannot reproduce (hard links, devices, whiteouts, other PAX
 * records, unordered entries, non-ASCII names, ids the user namespace cannot map)
 * throws NotWhole, and the caller takes the general path.
 */
import { createHash, type Hash } from "node:crypto";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type tar from "tar-stream";
import type { ContentStore } from "../content/content.js";
import { TbuildError } from "../errors.js";
import { decompressed } from "../snapshotter/compression.js";
import type { StreamedEntry } from "../snapshotter/differ.js";
import { hostIdsOf, type Ids } from "./users.js";

/** The layer does not hold the directory in a form this module reproduces exactly. */
export class NotWhole extends TbuildError {
  constructor(why: string) {
    super("internal", `the layer cannot be copied from as a whole: ${why}`);
  }
}

type Kind = "file" | "directory" | "symlink";

/** st_mode's type bits, as lstat of the unpacked entry shows them. */
const TYPE_BITS: Record<Kind, number> = { file: 0o100000, directory: 0o040000, symlink: 0o120000 };

interface SubtreeEntry {
  /** Path below the directory, `/`-separated. */
  rel: string;
  kind: Kind;
  /** Permission bits. */
  perm: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname: string;
  /** A file's content; consumed before the next entry is asked for. */
  body: AsyncIterable<Buffer>;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A tar entry name as a relative path, or undefined when it is not a plain one. */
function normalName(name: string): string | undefined {
  const n = name.replace(/^(\.\/)+/, "").replace(/^\/+/, "").replace(/\/+$/, "");
  if (n === "") return "";
  return n.split("/").some((c) => c === "" || c === "." || c === "..") ? undefined : n;
}

function kindOf(type: tar.Header["type"]): Kind | undefined {
  if (type === "file" || type === "contiguous-file") return "file";
  if (type === "directory" || type === "symlink") return type;
  return undefined;
}

/**
 * The entries of directory `dir` (relative, no leading `/`) in the layer blob `digest`,
 * checked as they come (see the module comment). The directory and each of its
 * parents must be directory entries of the layer, so none of them is a symlink in the
 * stage's tree.
 */
async function* subtree(content: ContentStore, digest: string, dir: string): AsyncGenerator<SubtreeEntry> {
  const input = content.openRead(digest);
  const { default: tarLib } = await import("tar-stream");
  const extract = tarLib.extract();
  const feeding = decompressed(input, `layer ${digest}`).then((tarStream) => pipeline(tarStream, extract));
  feeding.catch(() => undefined);
  const parents = new Set(dir.split("/").map((_, i, all) => all.slice(0, i).join("/")));
  parents.delete("");
  const seenParents = new Set<string>();
  const dirs = new Set<string>([""]);
  let found = false;
  let last: string | undefined;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = normalName(h.name);
      if (name === undefined) throw new NotWhole(`the entry '${h.name}' is not a plain path`);
      const inside = name.startsWith(dir + "/");
      if (!inside) {
        if (parents.has(name) && h.type === "directory") seenParents.add(name);
        if (name === dir) {
          if (found || h.type !== "directory") throw new NotWhole(`'${dir}' is not one directory entry`);
          if (seenParents.size !== parents.size) throw new NotWhole(`a parent of '${dir}' is not a directory of this layer`);
          found = true;
        }
        entry.resume();
        continue;
      }
      if (!found) throw new NotWhole(`'${name}' comes before its directory '${dir}'`);
      const rel = name.slice(dir.length + 1);
      const kind = kindOf(h.type);
      if (kind === undefined) throw new NotWhole(`'${name}' is a ${h.type}`);
      if (!PRINTABLE_ASCII.test(rel) || !PRINTABLE_ASCII.test(h.linkname ?? "")) throw new NotWhole(`'${name}' is not plain ASCII`);
      if (rel.split("/").some((c) => c.startsWith(".wh."))) throw new NotWhole(`'${name}' is a whiteout`);
      if (Object.keys(h.pax ?? {}).some((k) => k !== "path" && k !== "linkpath" && !k.startsWith("SCHILY.xattr."))) throw new NotWhole(`'${name}' has PAX records`);
      // Sorted by bytes, as a COPY layer lists them: renamed under one new parent they stay sorted.
      if (last !== undefined && !(last < rel)) throw new NotWhole(`'${name}' is out of order`);
      last = rel;
      const slash = rel.lastIndexOf("/");
      if (!dirs.has(slash < 0 ? "" : rel.slice(0, slash))) throw new NotWhole(`'${name}' has no directory entry before it`);
      if (kind === "directory") dirs.add(rel);
      if (kind !== "file") entry.resume();
      yield {
        rel,
        kind,
        perm: (h.mode ?? 0o644) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        size: kind === "file" ? (h.size ?? 0) : 0,
        mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
        linkname: kind === "symlink" ? (h.linkname ?? "") : "",
        body: entry as AsyncIterable<Buffer>,
      };
    }
    await feeding;
  } finally {
    extract.destroy();
    input.destroy();
  }
  if (!found) throw new NotWhole(`the layer has no directory '${dir}'`);
}

/** Path components compared one by one: a directory walk's order (parents first, siblings by name). */
function walkOrder(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/**
 * The cache identity of `COPY --from` of directory `dir` from the `keyParts` that
 * rewrittenSubtree gathered: what digestSources gives for the directory walked in the
 * unpacked snapshot (mode with type bits, the owner as the snapshot's files have it on
 * the host, link text, content), in a walk's order.
 */
export function subtreeKey(dir: string, keyParts: [string, string][]): string {
  keyParts.sort(([a], [b]) => walkOrder(a, b));
  const h = createHash("sha256").update(`tree\0${path.posix.basename(dir)}\0dir\0`);
  for (const [, part] of keyParts) h.update(part);
  return `sha256:${h.digest("hex")}`;
}

/** A body passed on as it is read, and hashed meanwhile. */
async function* hashing(body: AsyncIterable<Buffer>, h: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    h.update(chunk);
    yield chunk;
  }
}

/**
 * The entries of directory `dir` in layer `digest`, renamed under `dest` (absolute) and
 * owned as COPY --from owns them: --chown, else the source's own; --chmod for all but symlinks.
 * With `keyParts`, each entry's part of the cache key (see subtreeKey) is added to it as
 * the entry goes by: one read of the blob gives both the key and the layer.
 */
export async function* rewrittenSubtree(
  content: ContentStore,
  digest: string,
  dir: string,
  dest: string,
  o: { chown: Ids | undefined; perm: number | undefined },
  keyParts?: [string, string][],
): AsyncGenerator<StreamedEntry> {
  let any = false;
  for await (const e of subtree(content, digest, dir)) {
    any = true;
    // Unpacking would have refused such a layer: let the general path say so.
    const host = hostIdsOf(e);
    if (host === undefined) throw new NotWhole(`'${e.rel}' is owned by ids the user namespace does not map`);
    const ids = o.chown ?? e;
    const contentHash = keyParts !== undefined && e.kind === "file" ? createHash("sha256") : undefined;
    yield {
      kind: "streamed",
      header: {
        name: path.posix.join(dest, e.rel).slice(1),
        mode: e.kind === "symlink" ? 0o777 : (o.perm ?? e.perm),
        uid: ids.uid,
        gid: ids.gid,
        size: e.size,
        mtime: e.mtime,
        type: e.kind,
        linkname: e.linkname,
        devmajor: 0,
        devminor: 0,
      },
      ...(e.kind === "file" ? { body: contentHash === undefined ? e.body : hashing(e.body, contentHash) } : {}),
    };
    // Asked for the next entry: the layer writer has read this one's body through.
    if (keyParts !== undefined) {
      // lstat shows every symlink as 0777, whatever the tar said.
      const mode = TYPE_BITS[e.kind] | (e.kind === "symlink" ? 0o777 : e.perm);
      const head = `${e.rel}\0${mode}\0${host.uid}:${host.gid}\0`;
      if (e.kind === "symlink") keyParts.push([e.rel, `${head}link:${e.linkname}\0`]);
      else if (contentHash !== undefined) keyParts.push([e.rel, `${head}file:${contentHash.digest("hex")}\0`]);
      else keyParts.push([e.rel, head]);
    }
  }
  // The parents were planned for entries below dest; planCopy plans an empty directory's differently.
  if (!any) throw new NotWhole(`'${dir}' is empty`);
}
