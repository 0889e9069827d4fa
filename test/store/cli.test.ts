import { spawnSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/image-store.js";
import { makeImage, skopeoInspect, tbuild, tempDir } from "./helpers.js";

describe("tbuild store commands", () => {
  it("parallel tag processes sharing one root lose no tag", async () => {
    const root = await tempDir();
    const desc = await makeImage(await openStore(root), "base", [{ f: "x" }]);
    const names = Array.from({ length: 6 }, (_, i) => `parallel/t${i}:v${i}`);
    const results = await Promise.all(names.map((n) => tbuild(["tag", "--root", root, "base", n])));
    expect(results.map((r) => r.code)).toEqual(names.map(() => 0));
    const listed = (await (await openStore(root)).listImages()).map((i) => i.name).sort();
    expect(listed).toEqual(["docker.io/library/base:latest", ...names.map((n) => `docker.io/${n}`)].sort());
    for (const n of names.slice(0, 2)) expect((await skopeoInspect(`oci:${root}:docker.io/${n}`)).Digest).toBe(desc.digest);
    expect((await readdir(root)).filter((f) => f.includes("lock") || f.endsWith(".tmp"))).toEqual([]);
  });

  it("images lists short names; rmi, du and prune free an image's own blobs", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    await makeImage(store, "busybox", [{ "shared": "s" }]);
    await makeImage(store, "ghcr.io/me/app:v2", [{ "shared": "s" }, { own: "o" }]);
    const images = await tbuild(["images", "--root", root]);
    expect(images.stdout.split("\n")[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(images.stdout).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}\s+\S.*ago\s+\d+B$/m);
    expect(images.stdout).toMatch(/^ghcr\.io\/me\/app\s+v2\s/m);
    expect((await tbuild(["rmi", "--root", root, "ghcr.io/me/app:v2"])).stdout).toBe("Untagged: ghcr.io/me/app:v2\n");
    expect((await tbuild(["du", "--root", root])).stdout).toMatch(/^unreferenced\s+3\s/m);
    const prune = await tbuild(["prune", "--root", root]);
    expect(prune.stdout).toMatch(/\(3 blob\(s\)\)/);
    expect((await tbuild(["du", "--root", root])).stdout).toMatch(/^unreferenced\s+0\s/m);
    expect((await tbuild(["inspect", "--root", root, "busybox"])).code).toBe(0);
  });

  it("save and load move an image between stores through the CLI", async () => {
    const a = await tempDir();
    const b = await tempDir();
    const desc = await makeImage(await openStore(a), "demo:1", [{ f: "x" }]);
    const file = join(await tempDir(), "demo.tar");
    expect((await tbuild(["save", "--root", a, "--format", "docker", "-o", file, "demo:1"])).code).toBe(0);
    expect((await tbuild(["load", "--root", b, "-i", file])).stdout).toBe("Loaded image: demo:1\n");
    expect((await skopeoInspect(`oci:${b}:docker.io/library/demo:1`)).Digest).toBe(desc.digest);
  });

  it("save --format tar writes the flattened root filesystem as one tar, later layers winning", async () => {
    const root = await tempDir();
    await makeImage(await openStore(root), "two:1", [{ a: "1", b: "old" }, { b: "new" }]);
    const file = join(await tempDir(), "rootfs.tar");
    const r = await tbuild(["save", "--root", root, "--format", "tar", "-o", file, "two:1"]);
    expect(r.stderr).toBe("");
    expect(spawnSync("tar", ["-tf", file], { encoding: "utf8" }).stdout.split("\n").sort()).toEqual(["", "a", "b"]);
    expect(spawnSync("tar", ["-xOf", file, "b"], { encoding: "utf8" }).stdout).toBe("new");
  });

  it("errors name the problem without a stack trace", async () => {
    const root = await tempDir();
    const missing = await tbuild(["inspect", "--root", root, "nope:1"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`tbuild: image 'nope:1' not found in ${root}\nhint: run 'tbuild images' to list stored images, or pull or build it first\n`);
    const bad = await tbuild(["tag", "--root", root, "nope", "UPPER/case"]);
    expect(bad.code).toBe(1);
    const loadMissing = await tbuild(["load", "--root", root, "-i", join(root, "absent.tar")]);
    expect(loadMissing.stderr).toContain("absent.tar does not exist");
    expect(loadMissing.stderr).not.toMatch(/\bat \S+:\d+/);
  });
});
