/**
 * Layer tars keep their bytes (and so image digests) across tbuild versions: the header
 * encoder gives exactly what tar-stream, which wrote layers before, gives for the same
 * entry — long and non-ASCII names, long link targets, large ids and sizes, devices.
 */
import { linkSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import tar from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/snapshotter/changes.js";
import { writeLayerTar } from "../../src/snapshotter/differ.js";
import { encodeHeader, type TarHeader } from "../../src/snapshotter/tar-header.js";
import { tmp } from "./helpers.js";

/** The header blocks tar-stream's packer writes for `h` (its body left out). */
async function tarStreamHeader(h: TarHeader): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: Buffer) => chunks.push(c));
  pack.on("error", () => undefined);
  pack.entry({ ...h, mtime: new Date(h.mtime * 1000) }, () => undefined);
  await new Promise((r) => setImmediate(r));
  pack.destroy();
  return Buffer.concat(chunks);
}

const component = fc.oneof(
  fc.stringMatching(/^[a-z0-9._-]{1,12}$/),
  fc.stringMatching(/^[a-z]{40,120}$/),
  fc.constantFrom("é", "日本", "a b", "x".repeat(99), "y".repeat(100), "z".repeat(101)),
);
const name = fc.array(component, { minLength: 1, maxLength: 14 }).map((c) => c.join("/"));
const header: fc.Arbitrary<TarHeader> = fc.record({
  name,
  mode: fc.integer({ min: 1, max: 0o177777 }),
  uid: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  gid: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  size: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 2 ** 40 })),
  mtime: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 34 })),
  type: fc.constantFrom("file", "link", "symlink", "character-device", "block-device", "directory", "fifo"),
  linkname: fc.oneof(fc.constant(""), name),
  devmajor: fc.integer({ min: 0, max: 4095 }),
  devminor: fc.integer({ min: 0, max: 2 ** 20 - 1 }),
  // Only regular files have a size in a layer tar (tar-stream would pad after any other entry given one).
}).map((h) => (h.type === "file" ? h : { ...h, size: 0 }));

describe("layer tar headers", () => {
  it("are byte for byte what tar-stream writes for the same entry", async () => {
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const ours = Buffer.concat(encodeHeader(h));
        expect(ours.equals(await tarStreamHeader(h))).toBe(true);
      }),
      { numRuns: 600 },
    );
  });
});

const work = tmp("tbuild-tar-header-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("writeLayerTar", () => {
  it("writes the tar tar-stream wrote for a tree of small, large, linked and long-named files", async () => {
    const root = join(work, "tree");
    const long = "d".repeat(90) + "/" + "e".repeat(90) + "/" + "f".repeat(80);
    mkdirSync(join(root, long), { recursive: true });
    writeFileSync(join(root, "small.txt"), "hello\n");
    writeFileSync(join(root, "big.bin"), Buffer.alloc(3 * 1024 * 1024 + 5, 7));
    writeFileSync(join(root, long, "été.txt"), "x".repeat(1000));
    linkSync(join(root, "small.txt"), join(root, "hard.txt"));
    symlinkSync("t".repeat(150), join(root, "far"));
    const paths = ["big.bin", "d".repeat(90), long.split("/").slice(0, 2).join("/"), long, `${long}/été.txt`, "far", "hard.txt", "small.txt"];
    const changes: Change[] = paths.map((p) => ({ kind: "add", path: p, abs: join(root, p), st: lstatSync(join(root, p), { bigint: true }), xattrs: [] }));
    changes.push({ kind: "whiteout", path: "gone/.wh.old" });

    const ours = new PassThrough();
    const chunks: Buffer[] = [];
    ours.on("data", (c: Buffer) => chunks.push(c));
    await writeLayerTar((async function* () {
      yield* changes;
    })(), ours, { sourceDateEpoch: 1_700_000_000 });

    // The same entries through tar-stream's packer, as tbuild wrote layers before.
    const pack = tar.pack();
    const expected: Buffer[] = [];
    pack.on("data", (c: Buffer) => expected.push(c));
    const mtime = (st: { mtimeMs: bigint }): Date => new Date(Math.min(Number(st.mtimeMs / 1000n), 1_700_000_000) * 1000);
    let first: string | undefined;
    for (const c of changes) {
      if (c.kind === "whiteout") {
        pack.entry({ name: c.path, mode: 0o100000, mtime: new Date(1_700_000_000_000) }, Buffer.alloc(0));
        continue;
      }
      const st = lstatSync(c.abs, { bigint: true });
      const h: tar.Header = { name: c.path, mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtime: mtime(st) };
      if (st.isDirectory()) pack.entry({ ...h, type: "directory" }, Buffer.alloc(0));
      else if (st.isSymbolicLink()) pack.entry({ ...h, type: "symlink", linkname: "t".repeat(150) }, Buffer.alloc(0));
      else if (st.nlink > 1n && first !== undefined) pack.entry({ ...h, type: "link", linkname: first }, Buffer.alloc(0));
      else {
        if (st.nlink > 1n) first = c.path;
        pack.entry({ ...h, type: "file" }, readFileSync(c.abs));
      }
    }
    pack.finalize();
    await new Promise((r) => pack.on("end", r));
    expect(Buffer.concat(chunks).equals(Buffer.concat(expected))).toBe(true);
  });
});

describe("writeLayerTar on a file that goes away", () => {
  it("says which file changed instead of an errno, and writes no complete tar", async () => {
    const file = join(work, "vanishing.txt");
    writeFileSync(file, "soon gone\n");
    const st = lstatSync(file, { bigint: true });
    rmSync(file);
    const out = new PassThrough();
    out.resume();
    out.on("error", () => undefined);
    const change: Change = { kind: "add", path: "vanishing.txt", abs: file, st, xattrs: [] };
    await expect(writeLayerTar((async function* () {
      yield change;
    })(), out)).rejects.toThrow(`${file} changed while its layer was being written`);
    expect(out.destroyed).toBe(true);
  });
});

describe("writeLayerTar when its reader goes away", () => {
  it("stops with an error instead of waiting forever", async () => {
    const file = join(work, "large.bin");
    writeFileSync(file, Buffer.alloc(5 * 1024 * 1024, 1));
    const change: Change = { kind: "add", path: "large.bin", abs: file, st: lstatSync(file, { bigint: true }), xattrs: [] };
    // Room for the whole layer, so the writer is never waiting when the reader leaves (between chunks).
    const out = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
    out.once("data", () => setImmediate(() => out.destroy()));
    await expect(writeLayerTar((async function* () {
      yield change;
    })(), out)).rejects.toThrow();
  }, 20_000);
});
