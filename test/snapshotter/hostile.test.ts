/**
 * Hostile layers (built here with tar-stream) must be refused with an error naming the
 * layer and the entry, and must not touch anything outside the target: a sentinel
 * directory next to the target is compared before and after every attempt.
 */
import { mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { applyLayer, UnsafeEntryError, type WhiteoutMode } from "../../src/snapshotter/index.js";
import { listing, tarOf, tmp, type TarEntry } from "./helpers.js";

const work = tmp("tbuild-hostile-");
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sentinel = join(work, "sentinel");
mkdirSync(sentinel);
writeFileSync(join(sentinel, "file"), "precious\n");
const before = listing(sentinel, { dirMtimes: true });

let n = 0;
async function attempt(entries: TarEntry[], whiteouts: WhiteoutMode = "remove") {
  const target = join(work, `t${n++}`);
  mkdirSync(target);
  const layer = await tarOf(entries);
  const result = applyLayer(target, Readable.from([layer]), { layer: "evil-layer", whiteouts });
  return { target, result };
}

const hostile: [string, TarEntry[], RegExp][] = [
  ["a '..' name", [{ name: "../pwned", body: "x" }], /'\.\.\/pwned' contains a '\.\.' component/],
  ["'..' in the middle", [{ name: "a", type: "directory" }, { name: "a/../../pwned", body: "x" }], /contains a '\.\.' component/],
  ["an absolute name", [{ name: join(sentinel, "pwned"), body: "x" }], /is an absolute path/],
  ["a path through a relative symlink", [{ name: "l", type: "symlink", linkname: "../sentinel" }, { name: "l/pwned", body: "x" }], /goes through the symlink 'l'/],
  ["a path through an absolute symlink", [{ name: "l", type: "symlink", linkname: sentinel }, { name: "l/pwned", body: "x" }], /goes through the symlink 'l'/],
  [
    "a chain of symlinks",
    [
      { name: "a", type: "symlink", linkname: "b" },
      { name: "b", type: "symlink", linkname: "../sentinel" },
      { name: "a/pwned", body: "x" },
    ],
    /goes through the symlink 'a'/,
  ],
  [
    "a symlink replaced by a directory and back",
    [
      { name: "x", type: "symlink", linkname: sentinel },
      { name: "x", type: "directory" },
      { name: "x", type: "symlink", linkname: sentinel },
      { name: "x/pwned", body: "x" },
    ],
    /goes through the symlink 'x'/,
  ],
  ["a hard link to a file outside", [{ name: "h", type: "link", linkname: "../sentinel/file" }], /contains a '\.\.' component/],
  ["a hard link to an absolute path", [{ name: "h", type: "link", linkname: join(sentinel, "file") }], /is an absolute path/],
  [
    "a hard link through a symlink",
    [{ name: "l", type: "symlink", linkname: sentinel }, { name: "h", type: "link", linkname: "l/file" }],
    /links to 'l\/file', which goes through the symlink 'l'/,
  ],
  ["a whiteout of '..'", [{ name: "d", type: "directory" }, { name: "d/.wh..." }], /whiteout for an invalid name/],
  ["a whiteout through a symlink", [{ name: "l", type: "symlink", linkname: sentinel }, { name: "l/.wh.file" }], /goes through the symlink 'l'/],
  ["an opaque marker through a symlink", [{ name: "l", type: "symlink", linkname: sentinel }, { name: "l/.wh..wh..opq" }], /goes through the symlink 'l'/],
  ["a file below a regular file", [{ name: "f", body: "x" }, { name: "f/pwned", body: "x" }], /goes through 'f', which is not a directory/],
];

// These apply in this process, which takes root for the owners they carry.
describe.skipIf(process.geteuid?.() !== 0)("applying hostile layers", () => {
  it.each(hostile)("refuses %s and touches nothing outside", async (_kind, entries, message) => {
    for (const mode of ["remove", "overlay"] as const) {
      const { result } = await attempt(entries, mode);
      await expect(result).rejects.toBeInstanceOf(UnsafeEntryError);
      await expect((await attempt(entries, mode)).result).rejects.toThrow(new RegExp(`layer evil-layer: entry .*${message.source}`));
      expect(listing(sentinel, { dirMtimes: true })).toEqual(before);
      expect(existsSync(join(work, "pwned"))).toBe(false);
    }
  });

  it("never changes a directory's metadata through a symlink that replaced it later in the layer", async () => {
    const { target, result } = await attempt([
      { name: "d", type: "directory", mode: 0o777, mtime: new Date(0) },
      { name: "d", type: "symlink", linkname: sentinel },
    ]);
    await result;
    expect(readlinkSync(join(target, "d"))).toBe(sentinel);
    expect(listing(sentinel, { dirMtimes: true })).toEqual(before);
  });
});

describe.skipIf(process.geteuid?.() !== 0)("applying legitimate layers that look odd", () => {
  it("keeps relative symlinks with more '..' than depth, absolute symlinks and loops as link text", async () => {
    const { target, result } = await attempt([
      { name: "usr/lib/jvm/x", type: "directory" },
      { name: "usr/lib/jvm/x/cacerts", type: "symlink", linkname: "../../../../etc/ssl/certs/java/cacerts" },
      { name: "etc/ssl/certs/java", type: "directory" },
      { name: "etc/ssl/certs/java/cacerts", body: "certs" },
      { name: "bin", type: "directory" },
      { name: "bin/sh", type: "symlink", linkname: "dash" },
      { name: "bin/dash", body: "elf" },
      { name: "etc/localtime", type: "symlink", linkname: "/usr/share/zoneinfo/UTC" },
      { name: "loop", type: "symlink", linkname: "loop" },
    ]);
    expect((await result).warnings).toEqual([]);
    expect(readlinkSync(join(target, "usr/lib/jvm/x/cacerts"))).toBe("../../../../etc/ssl/certs/java/cacerts");
    expect(readlinkSync(join(target, "bin/sh"))).toBe("dash");
    expect(readlinkSync(join(target, "etc/localtime"))).toBe("/usr/share/zoneinfo/UTC");
  });

  it("handles whiteouts and opaque markers in either order, keeping this layer's own entries", async () => {
    const target = join(work, "order");
    mkdirSync(join(target, "d"), { recursive: true });
    writeFileSync(join(target, "d", "old"), "old");
    writeFileSync(join(target, "gone"), "gone");
    const layer = await tarOf([{ name: "d", type: "directory" }, { name: "d/new", body: "new" }, { name: "d/.wh..wh..opq" }, { name: ".wh.gone" }]);
    await applyLayer(target, Readable.from([layer]), { layer: "l", whiteouts: "remove" });
    expect(readdirSync(join(target, "d"))).toEqual(["new"]);
    expect(existsSync(join(target, "gone"))).toBe(false);
  });

  it("reports device nodes it may not create instead of dropping them silently", async () => {
    const { result } = await attempt([{ name: "dev", type: "directory" }, { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0 }]);
    const { warnings } = await result;
    // Real root may create it; anyone else gets a warning naming the entry.
    if (warnings.length > 0) expect(warnings[0]).toMatch(/layer evil-layer: entry 'dev\/sda' is a block-device 8:0/);
  });
});
