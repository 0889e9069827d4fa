/**
 * Round trips against the real reference registry, checked with skopeo: what tbuild
 * pushes, skopeo reads; what skopeo pushes (Docker schema2, OCI, a multi-platform
 * index), tbuild pulls with the digests unchanged.
 */
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MediaType } from "../../src/oci/media-types.js";
import { pullImage } from "../../src/store/registry-transfer.js";
import type { PushEvent } from "../../src/registry/push.js";
import { pushImage } from "../../src/store/registry-transfer.js";
import { openStore } from "../../src/store/image-store.js";
import { exec, tempDir } from "../setup/registry.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { pullCommand } from "../../src/cli/commands/pull.js";
import { pushCommand } from "../../src/cli/commands/push.js";
import { cli } from "./cli.js";
import { addToIndex, writeImage } from "./images.js";
import { hasBlob } from "../../src/content/blob-io.js";

const anonymous = { credentials: async () => undefined };
const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

const registry = registryForFile();

async function skopeoRaw(ref: string): Promise<string> {
  const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
  return stdout;
}

describe("push to the reference registry", () => {
  it("pushes an image skopeo can inspect and copy, with the same digest", async () => {
    const root = await tempDir();
    const name = `${registry.host}/app:v1`;
    // 3 MiB of random data in one layer: over the 1 MiB limit below, so it goes up in PATCH chunks.
    const desc = await writeImage(root, { layerSizes: [3 * 1024 * 1024, 2000] });
    await addToIndex(root, desc, name);
    const store = await openStore(root);
    const events: PushEvent[] = [];
    const result = await pushImage(store, name, undefined, { ...anonymous, monolithicLimit: 1024 * 1024, chunkSize: 512 * 1024, onProgress: (e) => events.push(e) });

    expect(result.digest).toBe(desc.digest);
    expect(events.filter((e) => e.kind === "blob").map((e) => e.kind === "blob" && e.outcome)).toEqual(["uploaded", "uploaded", "uploaded"]);
    const raw = await skopeoRaw(name);
    expect(sha(raw)).toBe(desc.digest);
    const { stdout } = await exec("skopeo", ["inspect", "--tls-verify=false", `docker://${name}`]);
    expect(JSON.parse(stdout)).toMatchObject({ Architecture: "amd64", Os: "linux", Digest: desc.digest });

    const out = await tempDir();
    await exec("skopeo", ["copy", "--src-tls-verify=false", `docker://${name}`, `oci:${out}:copy`]);
    const copied = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(copied.manifests[0]?.digest).toBe(desc.digest);
  });

  it("skips blobs the registry has and mounts blobs from the repository they came from", async () => {
    const root = await tempDir();
    const desc = await writeImage(root, { layerSizes: [100_000] });
    await addToIndex(root, desc, `${registry.host}/base:1`);
    const store = await openStore(root);
    await pushImage(store, `${registry.host}/base:1`, undefined, anonymous);

    const again: PushEvent[] = [];
    await pushImage(store, `${registry.host}/base:1`, undefined, { ...anonymous, onProgress: (e) => again.push(e) });
    expect(again.flatMap((e) => (e.kind === "blob" ? [e.outcome] : []))).toEqual(["exists", "exists"]);

    const other: PushEvent[] = [];
    const pushed = await pushImage(store, `${registry.host}/base:1`, `${registry.host}/team/derived:2`, { ...anonymous, onProgress: (e) => other.push(e) });
    expect(other.flatMap((e) => (e.kind === "blob" ? [e.outcome] : []))).toEqual(["mounted", "mounted"]);
    expect(sha(await skopeoRaw(`${registry.host}/team/derived:2`))).toBe(pushed.digest);
  });
});

describe("pull from the reference registry", () => {
  let layout: string;
  let single: { digest: string };
  let multi: { digest: string };
  beforeAll(async () => {
    layout = await tempDir();
    single = await writeImage(layout, { layerSizes: [200_000, 10] });
    await addToIndex(layout, single, "one");
    multi = await writeImage(layout, {
      platforms: [
        { os: "linux", architecture: "amd64" },
        { os: "linux", architecture: "arm64", variant: "v8" },
        { os: "linux", architecture: "arm", variant: "v7" },
      ],
      layerSizes: [50_000],
    });
    await addToIndex(layout, multi, "multi");
    const dst = (repo: string) => [`--dest-tls-verify=false`, `oci:${layout}:${repo === "multi" ? "multi" : "one"}`];
    await exec("skopeo", ["copy", "--format", "v2s2", ...dst("one"), `docker://${registry.host}/skopeo/v2s2:1`]);
    await exec("skopeo", ["copy", "--format", "oci", ...dst("one"), `docker://${registry.host}/skopeo/oci:1`]);
    await exec("skopeo", ["copy", "--all", ...dst("multi"), `docker://${registry.host}/skopeo/multi:1`]);
  });

  it("pulls a Docker schema2 image pushed by skopeo, keeping its digest", async () => {
    const name = `${registry.host}/skopeo/v2s2:1`;
    const registryDigest = sha(await skopeoRaw(name));
    const store = await openStore(await tempDir());
    const r = await pullImage(name, { ...anonymous, store });
    expect(r.descriptor).toMatchObject({ digest: registryDigest, mediaType: MediaType.dockerManifest });
    expect(r.manifestDigest).toBe(registryDigest);
    expect(r.config).toMatchObject({ os: "linux", architecture: "amd64" });
    const resolved = await store.resolve(name);
    expect(resolved.descriptor.digest).toBe(registryDigest);
    for (const l of r.manifest.layers) expect(await store.content.info(l.digest)).toMatchObject({ digest: l.digest, size: l.size });
  });

  it("pulls an OCI image by tag and by digest", async () => {
    const name = `${registry.host}/skopeo/oci:1`;
    const store = await openStore(await tempDir());
    const r = await pullImage(name, { ...anonymous, store });
    expect(r.descriptor).toMatchObject({ digest: single.digest, mediaType: MediaType.ociManifest });
    const byDigest = await pullImage(`${registry.host}/skopeo/oci@${single.digest}`, { ...anonymous, store });
    expect(byDigest.manifestDigest).toBe(single.digest);
  });

  it("picks the requested platform from a multi-platform index and stores the index", async () => {
    const name = `${registry.host}/skopeo/multi:1`;
    const index = JSON.parse(await skopeoRaw(name)) as { manifests: { digest: string; platform: { architecture: string } }[] };
    const arm64 = index.manifests.find((m) => m.platform.architecture === "arm64")!;
    const amd64 = index.manifests.find((m) => m.platform.architecture === "amd64")!;
    const root = await tempDir();
    const store = await openStore(root);
    const r = await pullImage(name, { ...anonymous, store, platform: "linux/arm64" });
    expect(r.descriptor.digest).toBe(multi.digest);
    expect(r.manifestDigest).toBe(arm64.digest);
    expect(r.config.architecture).toBe("arm64");
    expect(await hasBlob(store.content, multi.digest)).toBe(true);
    expect(await hasBlob(store.content, amd64.digest)).toBe(false);
    expect((await store.resolve(name, { platform: { os: "linux", architecture: "arm64" } })).manifestDescriptor.digest).toBe(arm64.digest);

    await expect(pullImage(name, { ...anonymous, store, platform: "linux/s390x" })).rejects.toThrow(/no image for linux\/s390x \(it has: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7\)/);

    // The store root is an OCI layout: with every platform pulled, skopeo can copy the index back out.
    await pullImage(name, { ...anonymous, store, allPlatforms: true });
    const blobs = await readdir(join(root, "blobs", "sha256"));
    for (const m of index.manifests) expect(blobs).toContain(m.digest.slice(7));
    const pushed = await pushImage(store, name, `${registry.host}/copied/multi:2`, anonymous);
    expect(pushed.digest).toBe(multi.digest);
    expect(sha(await skopeoRaw(`${registry.host}/copied/multi:2`))).toBe(multi.digest);
  });

  it("names the missing image and the registry in a not-found error", async () => {
    const store = await openStore(await tempDir());
    await expect(pullImage(`${registry.host}/nope/missing:1`, { ...anonymous, store })).rejects.toMatchObject({
      category: "not-found",
      message: expect.stringMatching(/pull manifest 127\.0\.0\.1:\d+\/nope\/missing:1: http:\/\/127\.0\.0\.1:\d+\/v2\/nope\/missing\/manifests\/1 answered 404: MANIFEST_UNKNOWN/),
    });
  });
});

describe("tbuild pull and push", () => {
  it("pull stores and tags under --root; push sends it on and prints the digest", async () => {
    const src = await tempDir();
    const desc = await writeImage(src, { layerSizes: [70_000] });
    await addToIndex(src, desc, `${registry.host}/cli/src:1`);
    await pushImage(await openStore(src), `${registry.host}/cli/src:1`, undefined, anonymous);
    process.env["DOCKER_CONFIG"] = await tempDir();
    try {
      const root = await tempDir();
      const pulled = await cli(pullCommand.run, ["--root", root, `${registry.host}/cli/src:1`]);
      expect(pulled).toMatchObject({ code: 0, out: `${registry.host}/cli/src:1\n` });
      expect(pulled.err).toContain(`Digest: ${desc.digest}`);
      expect((await (await openStore(root)).resolve(`${registry.host}/cli/src:1`)).descriptor.digest).toBe(desc.digest);

      const pushed = await cli(pushCommand.run, ["--root", root, "--chunk-size", "16k", `${registry.host}/cli/src:1`, `${registry.host}/cli/dst:2`]);
      expect(pushed).toMatchObject({ code: 0, out: `${desc.digest}\n` });
      expect(pushed.err).toMatch(/mounted/);
      expect(sha(await skopeoRaw(`${registry.host}/cli/dst:2`))).toBe(desc.digest);

      await expect(cli(pushCommand.run, ["--bogus", "x"])).rejects.toMatchObject({ category: "invalid-argument", message: expect.stringContaining("--bogus") });
      await expect(cli(pushCommand.run, ["--chunk-size", "lots", "x"])).rejects.toMatchObject({ message: "--chunk-size: 'lots' is not a size" });
    } finally {
      delete process.env["DOCKER_CONFIG"];
    }
  });
});
