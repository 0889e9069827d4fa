/**
 * type=local: the flattened root filesystem, compared with what `umoci unpack` (a tool
 * nobody here wrote) makes of the same image, and, as a real non-root user, with every
 * file owned by that user.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Digester } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { exportImage } from "../../src/store/export/index.js";
import { openStore, type ImageStore } from "../../src/store/image-store.js";
import { rootlessEnv } from "../setup/rootless.js";
import { listing, tarOf, type TarEntry } from "../snapshotter/helpers.js";
import { run, tbuild, tempDir } from "./helpers.js";

const D = { type: "directory", mode: 0o755 } as const;

/** Layer 1 makes a small tree with odd owners and modes; layer 2 deletes and replaces parts of it. */
const LAYERS: TarEntry[][] = [
  [
    { name: "bin/", ...D },
    { name: "bin/tool", body: "#!/bin/sh\n", mode: 0o4755 },
    { name: "etc/", ...D },
    { name: "etc/keep", body: "kept\n" },
    { name: "etc/gone", body: "deleted by layer 2\n" },
    { name: "etc/keep.hard", type: "link", linkname: "etc/keep" },
    { name: "etc/keep.sym", type: "symlink", linkname: "keep" },
    { name: "var/", ...D },
    { name: "var/www/", ...D, uid: 33, gid: 33 },
    { name: "var/www/index.html", body: "<p>hi</p>\n", uid: 33, gid: 33, mode: 0o640 },
    { name: "var/cache/", ...D },
    { name: "var/cache/old", body: "hidden by an opaque dir\n" },
    { name: "secret/", type: "directory", mode: 0o700, uid: 999, gid: 999 },
    { name: "secret/key", body: "k", uid: 999, gid: 999, mode: 0o600 },
  ],
  [
    { name: "etc/", ...D },
    { name: "etc/.wh.gone" },
    { name: "etc/added", body: "new in layer 2\n" },
    { name: "var/", ...D },
    { name: "var/cache/", ...D },
    { name: "var/cache/.wh..wh..opq" },
    { name: "var/cache/new", body: "after the opaque marker\n", uid: 999, gid: 999 },
  ],
];

async function storeImage(store: ImageStore, name: string, layers: TarEntry[][]): Promise<void> {
  const descs = [];
  const diffIds = [];
  for (const entries of layers) {
    const raw = await tarOf(entries);
    const diff = new Digester();
    diff.update(raw);
    diffIds.push(diff.digest());
    const w = await store.content.writer();
    await pipeline(Readable.from([raw]), createGzip(), w);
    const info = await w.commit();
    descs.push({ mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size });
  }
  await store.putImage({ name, layers: descs, config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds }, config: {} } });
}

const sha12 = (s: string): string => createHash("sha256").update(s).digest("hex").slice(0, 12);

const asRoot = process.geteuid?.() === 0;

describe("type=local exporter", () => {
  it.runIf(asRoot)("writes the same tree umoci unpacks, owners and all", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    await storeImage(store, "flat:1", LAYERS);
    const dest = join(await tempDir(), "out");
    const result = await exportImage(store, "flat:1", { type: "local", dest });
    expect(result.warnings).toEqual([]);

    const bundle = join(await tempDir(), "bundle");
    await run("umoci", ["unpack", "--image", `${root}:docker.io/library/flat:1`, bundle]);
    const expected = listing(join(bundle, "rootfs"));
    expect(listing(dest)).toEqual(expected);
    // What the whiteouts meant, spelled out, so a shared misreading of them would still show.
    const names = expected.map((l) => l.split(" ")[0]);
    expect(names).not.toContain("etc/gone");
    expect(names).not.toContain("var/cache/old");
    expect(names).toContain("var/cache/new");
    expect(lstatSync(join(dest, "var/www/index.html")).uid).toBe(33);
    expect(lstatSync(join(dest, "bin/tool")).mode & 0o7777).toBe(0o4755);
  });

  it("merges into an existing directory: replaces same-named entries, keeps others, never follows a symlink out", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    await storeImage(store, "small:1", [[{ name: "etc/", ...D }, { name: "etc/conf", body: "from image\n" }, { name: "note", body: "image note\n" }]]);
    const outside = await tempDir();
    const dest = await tempDir();
    writeFileSync(join(dest, "mine"), "user file\n");
    writeFileSync(join(dest, "note"), "old note\n");
    symlinkSync(outside, join(dest, "etc"));
    await exportImage(store, "small:1", { type: "local", dest });
    expect(readFileSync(join(dest, "mine"), "utf8")).toBe("user file\n");
    expect(readFileSync(join(dest, "note"), "utf8")).toBe("image note\n");
    expect(lstatSync(join(dest, "etc")).isDirectory()).toBe(true);
    expect(readFileSync(join(dest, "etc/conf"), "utf8")).toBe("from image\n");
    expect(spawnSync("ls", ["-A", outside], { encoding: "utf8" }).stdout).toBe("");
    expect(spawnSync("ls", ["-A", dest], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).sort()).toEqual(["etc", "mine", "note"]);
  });

  it("tbuild save --format local writes the tree; a file in the way is a clear error", async () => {
    const root = await tempDir();
    await storeImage(await openStore(root), "cli:1", [[{ name: "hello", body: "hi\n" }]]);
    const dest = join(await tempDir(), "rootfs");
    const ok = await tbuild(["save", "cli:1", "--root", root, "-o", dest, "--format", "local"]);
    expect(ok.stderr).toBe("");
    expect(readFileSync(join(dest, "hello"), "utf8")).toBe("hi\n");
    const file = join(await tempDir(), "file");
    writeFileSync(file, "");
    const bad = await tbuild(["save", "cli:1", "--root", root, "-o", file, "--format", "local"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`tbuild: cannot export to ${file}: it is not a directory\nhint: choose a directory (it is created if missing)\n`);
    const noDir = await tbuild(["save", "cli:1", "--root", root, "--format", "local"]);
    expect(noDir.stderr).toContain("save --format local needs -o DIR");
  });

  it("tbuild build --output type=local,dest=DIR writes the built tree", async () => {
    const ctx = await tempDir();
    writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nCOPY a.txt /app/a.txt\nCOPY b.txt /app/b.txt\n");
    writeFileSync(join(ctx, "a.txt"), "A\n");
    writeFileSync(join(ctx, "b.txt"), "B\n");
    const dest = join(await tempDir(), "out");
    const r = await tbuild(["build", "--root", await tempDir(), "-q", "--output", `type=local,dest=${dest}`, ctx]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(listing(dest, { mtimes: false }).map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(["app d", "app/a.txt f:" + sha12("A\n"), "app/b.txt f:" + sha12("B\n")]);
  });

  const env = rootlessEnv();
  it.skipIf(env === undefined)("as a normal user, every file is the user's and modes (setuid too) are kept", async () => {
    const e = env!;
    const work = e.workDir();
    const root = join(work, "store");
    const store = await openStore(root);
    await storeImage(store, "flat:1", LAYERS);
    spawnSync("chown", ["-R", `${e.uid}:${e.gid}`, root]);
    const dest = join(work, "out");
    const script = `import { openStore, exportImage } from ${JSON.stringify(join(e.app, "dist/store/index.js"))};
      const store = await openStore(${JSON.stringify(root)});
      const r = await exportImage(store, "flat:1", { type: "local", dest: ${JSON.stringify(dest)} });
      process.stdout.write(JSON.stringify(r.warnings));`;
    const r = await e.run(process.execPath, ["--input-type=module", "-e", script]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("[]");
    const tree = listing(dest);
    expect(tree.map((l) => l.split(" ")[0])).toEqual(expect.arrayContaining(["etc/added", "var/cache/new", "secret/key", "etc/keep.hard"]));
    expect(tree.join("\n")).not.toMatch(/etc\/gone|var\/cache\/old/);
    for (const line of tree) expect(line.split(" ")[3]).toBe(`${e.uid}:${e.gid}`);
    expect(lstatSync(join(dest, "bin/tool")).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(dest, "secret")).mode & 0o7777).toBe(0o700);
    // The user can delete what was exported, without any helper.
    expect((await e.run("rm", ["-rf", dest])).status).toBe(0);
  });
});

