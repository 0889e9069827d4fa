import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestStream } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { exportImage } from "../../src/store/export/index.js";
import { openStore } from "../../src/store/image-store.js";
import { loadArchive } from "../../src/store/load.js";
import { makeImage, run, skopeoInspect, tempDir } from "./helpers.js";

async function storeWithImage(name = "demo:1") {
  const root = await tempDir();
  const store = await openStore(root);
  const desc = await makeImage(store, name, [{ "etc/hello": "hi\n" }, { "usr/share/doc": "doc" }]);
  return { root, store, desc, image: await store.resolve(name) };
}

describe("save and load", () => {
  it("an OCI archive is read by skopeo and loads back into another store unchanged", async () => {
    const { store, desc, image } = await storeWithImage();
    const file = join(await tempDir(), "demo.tar");
    await exportImage(store, "demo:1", { type: "oci", dest: file });
    expect((await skopeoInspect(`oci-archive:${file}`)).Digest).toBe(desc.digest);
    expect((await skopeoInspect(`oci-archive:${file}:docker.io/library/demo:1`)).Digest).toBe(desc.digest);
    const other = await openStore(await tempDir());
    const loaded = await loadArchive(other, file);
    expect(loaded).toEqual([{ name: "docker.io/library/demo:1", descriptor: { mediaType: MediaType.ociManifest, digest: desc.digest, size: desc.size } }]);
    expect((await other.resolve("demo:1")).config).toEqual(image.config);
  });

  it("a docker archive is read by skopeo, has docker's manifest.json, and loads back", async () => {
    const { store, desc, image } = await storeWithImage("me/app:2");
    const dir = await tempDir();
    const file = join(dir, "app.tar");
    await exportImage(store, "me/app:2", { type: "docker", dest: file });
    const seen = await skopeoInspect(`docker-archive:${file}`);
    // skopeo's docker-archive source names layers by diffID, as docker does.
    expect(seen.Layers).toEqual(image.config.rootfs.diff_ids);
    await run("tar", ["-xf", file, "-C", dir, "manifest.json"]);
    expect(JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"))).toEqual([
      {
        Config: `blobs/sha256/${image.manifest.config.digest.slice(7)}`,
        RepoTags: ["me/app:2"],
        Layers: image.manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);
    // skopeo copy checks every layer against the config's diffIDs while converting.
    const copied = join(dir, "copied");
    await run("skopeo", ["copy", `docker-archive:${file}`, `oci:${copied}:x`]);
    expect((await skopeoInspect(`oci:${copied}:x`)).Layers.length).toBe(2);
    const other = await openStore(await tempDir());
    await loadArchive(other, file);
    expect((await other.resolve("me/app:2")).descriptor.digest).toBe(desc.digest);
  });

  it("loads skopeo's docker-archive (uncompressed layer files) keeping the config digest", async () => {
    const { root, image } = await storeWithImage("legacy:1");
    const file = join(await tempDir(), "legacy.tar");
    await run("skopeo", ["copy", `oci:${root}:docker.io/library/legacy:1`, `docker-archive:${file}:legacy:1`]);
    const other = await openStore(await tempDir());
    const [loaded] = await loadArchive(other, file);
    expect(loaded?.name).toBe("docker.io/library/legacy:1");
    const back = await other.resolve("legacy:1");
    expect(back.manifest.config.digest).toBe(image.manifest.config.digest);
    expect(back.manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayer, MediaType.ociLayer]);
    // An uncompressed layer's digest is its diffID: nothing was recompressed or rewritten.
    expect(back.manifest.layers.map((l) => l.digest)).toEqual(back.config.rootfs.diff_ids);
    for (const l of back.manifest.layers) expect((await digestStream(other.content.openRead(l.digest))).digest).toBe(l.digest);
    const bundle = join(await tempDir(), "b");
    await run("umoci", ["unpack", "--rootless", "--image", `${other.root}:docker.io/library/legacy:1`, bundle]);
    expect(await readFile(join(bundle, "rootfs", "etc", "hello"), "utf8")).toBe("hi\n");
  });

  it("type=oci,tar=false writes a layout directory skopeo reads", async () => {
    const { store, desc } = await storeWithImage();
    const dest = join(await tempDir(), "layout");
    await exportImage(store, "demo:1", { type: "oci", dest, tar: false, name: "exported:v1" });
    expect((await skopeoInspect(`oci:${dest}:docker.io/library/exported:v1`)).Digest).toBe(desc.digest);
    expect((await readdir(join(dest, "blobs", "sha256"))).length).toBe(4);
  });

  it("a truncated archive is refused with a message naming the file", async () => {
    const { store } = await storeWithImage();
    const dir = await tempDir();
    const file = join(dir, "full.tar");
    await exportImage(store, "demo:1", { type: "oci", dest: file });
    const cut = join(dir, "cut.tar");
    const bytes = await readFile(file);
    await (await import("node:fs/promises")).writeFile(cut, bytes.subarray(0, 3000));
    await expect(loadArchive(await openStore(await tempDir()), cut)).rejects.toThrow(new RegExp(`${cut}`));
  });
});
