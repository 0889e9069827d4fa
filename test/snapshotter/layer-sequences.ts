/**
 * Layer sequences that once split the drivers (issue #12: the native snapshotter and
 * `save --format local` refused them, overlay took them, or the reverse, or both took them
 * but showed different trees): each driver must refuse them with the same reason, or
 * accept them and show the same merged tree.
 */
import { tarOf, type TarEntry } from "./helpers.js";

export interface LayerSequence {
  name: string;
  layers: TarEntry[][];
  /** Refused: the error names this. Accepted: exactly these lines of the merged tree. */
  expect: { refused: RegExp } | { tree: string[] };
}

/** A name no host has at its root: found at /ESCAPED after a run, a layer wrote outside its root. */
export const ESCAPED = "tbuild-escaped-from-layer";

const dir = (name: string, more: Partial<TarEntry> = {}): TarEntry => ({ name, type: "directory", ...more });
const file = (name: string, body: string, more: Partial<TarEntry> = {}): TarEntry => ({ name, body, ...more });

export const LAYER_SEQUENCES: LayerSequence[] = [
  {
    name: "an entry under a lower layer's symlink (a merged-/usr /lib)",
    layers: [[dir("usr"), dir("usr/lib"), { name: "lib", type: "symlink", linkname: "usr/lib" }], [file("lib/libx.so", "x")]],
    expect: { refused: /entry 'lib\/libx.so' goes through the symlink 'lib'/ },
  },
  // A hostile image: a lower layer's symlink to the host's / (or a chain ending there).
  // Followed on the host, a later layer would write, link or delete outside the root; the
  // names (ESCAPED below) are ones no host has, and layerSequenceConformance looks for them.
  {
    name: "an entry under a lower layer's symlink to /",
    layers: [[{ name: "etc", type: "symlink", linkname: "/" }], [file(`etc/${ESCAPED}`, "pwned")]],
    expect: { refused: new RegExp(`entry 'etc/${ESCAPED}' goes through the symlink 'etc'`) },
  },
  {
    name: "an entry under a chain of lower layers' symlinks ending at /",
    layers: [[{ name: "a", type: "symlink", linkname: "b" }], [{ name: "b", type: "symlink", linkname: "/" }], [file(`a/${ESCAPED}`, "pwned")]],
    expect: { refused: new RegExp(`entry 'a/${ESCAPED}' goes through the symlink 'a'`) },
  },
  {
    name: "a hard link through a lower layer's symlink to /",
    layers: [[{ name: "etc", type: "symlink", linkname: "/" }], [{ name: ESCAPED, type: "link", linkname: "etc/etc/hostname" }]],
    expect: { refused: new RegExp(`links to 'etc/etc/hostname', which goes through the symlink 'etc'`) },
  },
  {
    name: "a whiteout and an opaque marker through a lower layer's symlink to /",
    layers: [[{ name: "etc", type: "symlink", linkname: "/" }], [file(`etc/.wh.${ESCAPED}`, ""), file("etc/.wh..wh..opq", "")]],
    expect: { refused: new RegExp(`entry 'etc/.wh.${ESCAPED}' goes through the symlink 'etc'`) },
  },
  {
    name: "an entry under a lower layer's file",
    layers: [[file("a", "file")], [file("a/b", "under a file")]],
    expect: { refused: /entry 'a\/b' goes through 'a', which is not a directory/ },
  },
  {
    name: "a whiteout under a lower layer's file",
    layers: [[file("a", "file")], [file("a/.wh.b", "")]],
    expect: { refused: /entry 'a\/.wh.b' goes through 'a', which is not a directory/ },
  },
  {
    name: "an opaque marker under a lower layer's symlink",
    layers: [[dir("etc"), { name: "l", type: "symlink", linkname: "etc" }], [file("l/.wh..wh..opq", "")]],
    expect: { refused: /entry 'l\/.wh..wh..opq' goes through the symlink 'l'/ },
  },
  {
    name: "a hard link to a path whited out earlier in the same layer",
    layers: [[file("f", "old")], [file(".wh.f", ""), { name: "g", type: "link", linkname: "f" }]],
    expect: { refused: /entry 'g' is a hard link to 'f', which does not exist/ },
  },
  {
    name: "a hard link to a lower layer's file, which a later layer removes",
    layers: [[file("f", "shared", { mode: 0o640, uid: 7, gid: 8 })], [{ name: "g", type: "link", linkname: "f" }], [file(".wh.f", "")]],
    expect: { tree: ["./g file 640 7:8 shared"] },
  },
  {
    name: "a whiteout then a directory of the same name in one layer (the old entries stay gone)",
    layers: [[dir("d"), file("d/old", "o")], [file(".wh.d", ""), dir("d", { mode: 0o700 }), file("d/new", "n")]],
    expect: { tree: ["./d dir 700 0:0", "./d/new file 644 0:0 n"] },
  },
  {
    name: "a whiteout then an entry under that name, with no directory entry",
    layers: [[dir("d"), file("d/old", "o")], [file(".wh.d", ""), file("d/new", "n")]],
    expect: { tree: ["./d dir 755 0:0", "./d/new file 644 0:0 n"] },
  },
  {
    name: "an entry in a lower layer's directory keeps that directory's owner and mode",
    layers: [[dir("home"), dir("home/www", { mode: 0o750, uid: 33, gid: 33 })], [file("home/www/index.html", "hi", { uid: 33, gid: 33 })]],
    expect: { tree: ["./home dir 755 0:0", "./home/www dir 750 33:33", "./home/www/index.html file 644 33:33 hi"] },
  },
  {
    name: "a whiteout of a path no layer has, a file replaced by a directory and a directory by a file",
    layers: [
      [file("f2d", "file"), dir("d2f"), file("d2f/x", "x")],
      [file(".wh.never-was", ""), dir("f2d"), file("f2d/in", "in"), file("d2f", "now a file")],
    ],
    expect: { tree: ["./d2f file 644 0:0 now a file", "./f2d dir 755 0:0", "./f2d/in file 644 0:0 in"] },
  },
];

/** The sequences as the fixture reads them: layers as base64 tars. */
export async function sequencesJson(): Promise<string> {
  return JSON.stringify(await Promise.all(LAYER_SEQUENCES.map(async (s) => ({ name: s.name, layers: await Promise.all(s.layers.map(async (l) => (await tarOf(l)).toString("base64"))) }))));
}
