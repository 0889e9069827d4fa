import { readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isTbuildError } from "../../src/errors.js";
import { gc } from "../../src/store/gc.js";
import { openStore } from "../../src/store/image-store.js";
import { makeImage, run, skopeoInspect, tempDir } from "./helpers.js";
import { hasBlob } from "../../src/content/blob-io.js";

const viteNode = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "vite-node");

describe("image store", () => {
  it("is an OCI layout skopeo reads by the full reference", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    const desc = await makeImage(store, "busybox", [{ "etc/hello": "hi\n" }]);
    const seen = await skopeoInspect(`oci:${root}:docker.io/library/busybox:latest`);
    expect(seen.Digest).toBe(desc.digest);
    expect(seen.Architecture).toBe("amd64");
    expect(JSON.parse(await readFile(join(root, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
  });

  it("resolves short, full and digest names to the same image", async () => {
    const store = await openStore(await tempDir());
    const desc = await makeImage(store, "me/app:1", [{ a: "1" }]);
    for (const n of ["me/app:1", "docker.io/me/app:1", "index.docker.io/me/app:1", desc.digest, desc.digest.slice(7, 19)]) {
      expect((await store.resolve(n)).descriptor.digest).toBe(desc.digest);
    }
    const err = await store.resolve("me/app:2").catch((e: unknown) => e);
    expect(isTbuildError(err, "not-found")).toBe(true);
  });

  it("storing the image a tag already names again writes nothing but touches its blobs", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    const first = await makeImage(store, "app", [{ a: "1" }]);
    const index = await stat(join(root, "index.json"));
    const manifest = store.content.blobPath(first.digest);
    await utimes(manifest, new Date(1e12), new Date(1e12));
    const again = await makeImage(store, "app", [{ a: "1" }]);
    expect(again).toEqual(first);
    const after = await stat(join(root, "index.json"));
    // A no-change rebuild: index.json is the same file, and no ingest file was left or made.
    expect([after.ino, after.mtimeMs]).toEqual([index.ino, index.mtimeMs]);
    expect(await readdir(join(root, "ingest"))).toEqual([]);
    // Touched as a rewrite would: prune --keep-storage sees it as just made once untagged.
    expect((await stat(manifest)).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    // Another name for it does change index.json.
    await makeImage(store, "other", [{ a: "1" }]);
    expect((await store.resolve("other")).descriptor.digest).toBe(first.digest);
  });

  it("tag moves a name and untag removes it", async () => {
    const store = await openStore(await tempDir());
    const a = await makeImage(store, "x", [{ a: "1" }]);
    const b = await makeImage(store, "y", [{ b: "2" }]);
    await store.tag(b, "x");
    expect((await store.resolve("x")).descriptor.digest).toBe(b.digest);
    expect((await store.listImages()).map((i) => i.name).sort()).toEqual(["docker.io/library/x:latest", "docker.io/library/y:latest"]);
    await store.untag("x");
    await expect(store.resolve("x")).rejects.toThrow(/not found/);
    expect(a.digest).not.toBe(b.digest);
  });

  it("umoci unpacks the stored image to the same tree", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    await makeImage(store, "umo", [{ "etc/hello": "hi\n", "bin/tool": "x" }, { "etc/second": "two\n" }]);
    const bundle = join(await tempDir(), "bundle");
    await run("umoci", ["unpack", "--rootless", "--image", `${root}:docker.io/library/umo:latest`, bundle]);
    expect(await readFile(join(bundle, "rootfs", "etc", "hello"), "utf8")).toBe("hi\n");
    expect(await readFile(join(bundle, "rootfs", "etc", "second"), "utf8")).toBe("two\n");
  });

  it("rmi then prune removes only blobs no other image uses", async () => {
    const store = await openStore(await tempDir());
    const shared = { "shared/file": "same bytes" };
    const keep = await store.resolve((await makeImage(store, "keep", [shared])).digest);
    await makeImage(store, "drop", [shared, { "only/in-drop": "bye" }]);
    const drop = await store.resolve("drop");
    await store.untag("drop");
    const result = await gc(store);
    const removed = result.removed.map((b) => b.digest).sort();
    expect(removed).toEqual([drop.descriptor.digest, drop.manifest.config.digest, drop.manifest.layers[1]!.digest].sort());
    expect(await hasBlob(store.content, keep.manifest.layers[0]!.digest)).toBe(true);
    expect(await hasBlob(store.content, drop.manifest.layers[1]!.digest)).toBe(false);
    expect((await store.resolve("keep")).config.architecture).toBe("amd64");
  });

  it("keep-storage keeps the newest unreferenced bytes", async () => {
    const store = await openStore(await tempDir());
    await makeImage(store, "gone", [{ f: "x".repeat(1000) }]);
    await store.untag("gone");
    const dry = await gc(store, { dryRun: true, keepStorage: 10_000_000 });
    expect(dry.removed).toEqual([]);
    const all = await gc(store, { dryRun: true });
    expect(all.removed.length).toBe(3);
  });

  it("four processes tagging 25 names each into one root lose none", async () => {
    const root = await tempDir();
    await makeImage(await openStore(root), "base", [{ f: "x" }]);
    const child = join(import.meta.dirname, "fixtures", "tag-child.ts");
    await Promise.all(["p0", "p1", "p2", "p3"].map((p) => run(viteNode, [child, root, p, "25"])));
    const names = (await (await openStore(root)).listImages()).map((i) => i.name);
    expect(names.length).toBe(101);
    expect(new Set(names).size).toBe(101);
  });

  it("a lock left by a dead process does not block the store", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    const desc = await makeImage(store, "a", [{ f: "x" }]);
    await writeFile(join(root, "index.json.lock"), `${hostname()} 999999999 leftover`);
    await store.tag(desc, "b");
    expect((await store.resolve("b")).descriptor.digest).toBe(desc.digest);
  });
});
