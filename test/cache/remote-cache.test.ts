/**
 * The registry-backed build cache against the real reference registry: what one
 * runner exports, a runner with an empty store imports and uses; merging accumulates
 * records across jobs; skopeo reads the cache as an ordinary OCI manifest.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import tar from "tar-stream";
import { CACHE_CONFIG_MEDIA_TYPE, MAX_CACHE_RECORDS, RemoteCache, exportCache } from "../../src/cache/remote-cache.js";
import type { StepRecord } from "../../src/cache/record.js";
import { digestOf, digestStream } from "../../src/oci/digest.js";
import type { PushEvent } from "../../src/registry/push.js";
import { pushImage } from "../../src/store/registry-transfer.js";
import type { LayerDescriptor } from "../../src/oci/layer.js";
import { storeLayer } from "../../src/snapshotter/differ.js";
import { openStore, type ImageStore } from "../../src/store/image-store.js";
import { makeImage } from "../store/helpers.js";
import { exec, tempDir } from "../setup/registry.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { hasBlob } from "../../src/content/blob-io.js";

const registryOptions = { credentials: async () => undefined };

const registry = registryForFile();

const freshStore = async (): Promise<ImageStore> => openStore(await tempDir("tbuild-rcache-"));
const key = (name: string): string => digestOf(`step ${name}`);

/** A layer as a RUN step would leave it: a tar of `files`, gzipped into the store by the differ. */
async function layerOf(store: ImageStore, files: Record<string, Buffer>): Promise<LayerDescriptor> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  pack.finalize();
  return storeLayer(Readable.from(pack), store.content);
}

async function skopeoRaw(ref: string): Promise<{ config: { mediaType: string }; layers: { digest: string }[] }> {
  const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
  return JSON.parse(stdout) as { config: { mediaType: string }; layers: { digest: string }[] };
}

describe("registry build cache", () => {
  it("carries step records and their layers from one runner's store to another's", async () => {
    const ref = `${registry.host}/app/cache:main`;
    const a = await freshStore();
    const apt = await layerOf(a, { "usr/bin/tool": randomBytes(300_000) });
    const src = await layerOf(a, { "app/main.js": Buffer.from("console.log('hi')\n") });
    // Two steps can produce the same layer; the manifest lists it once.
    const records = new Map<string, StepRecord>([
      [key("apt"), { layer: apt }],
      [key("workdir"), { layer: null }],
      [key("copy"), { layer: src }],
      [key("copy again"), { layer: src }],
    ]);
    const pushed = await exportCache(ref, records, { store: a, registry: registryOptions });
    expect(pushed).toMatchObject({ records: 4, layers: 2 });

    const raw = await skopeoRaw(ref);
    expect(raw.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
    expect(raw.layers.map((l) => l.digest)).toEqual([apt.digest, src.digest]);

    const b = await freshStore();
    const cache = await RemoteCache.import(ref, { store: b, registry: registryOptions });
    expect(cache.lookup(key("apt"))).toEqual({ layer: apt });
    expect(cache.lookup(key("workdir"))).toEqual({ layer: null });
    expect(cache.lookup(key("never ran"))).toBeUndefined();

    expect(await hasBlob(b.content, apt.digest)).toBe(false);
    await cache.ensureLayer(apt);
    expect(await digestStream(b.content.openRead(apt.digest))).toEqual({ digest: apt.digest, size: apt.size });

    // An image built on a cached layer mounts it from the cache's repository when pushed.
    await b.putImage({
      name: `${registry.host}/app/web:1`,
      layers: [{ mediaType: apt.mediaType, digest: apt.digest, size: apt.size }],
      config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [apt.diffID] } },
    });
    const events: PushEvent[] = [];
    await pushImage(b, `${registry.host}/app/web:1`, undefined, { ...registryOptions, onProgress: (e) => events.push(e) });
    expect(events).toContainEqual({ kind: "blob", digest: apt.digest, size: apt.size, outcome: "mounted" });
  });

  it("never lets a layer whose bytes the registry damaged into the store", async () => {
    const ref = `${registry.host}/app/cache:damaged`;
    const a = await freshStore();
    const layer = await layerOf(a, { data: randomBytes(50_000) });
    await exportCache(ref, new Map([[key("damaged"), { layer }]]), { store: a, registry: registryOptions });
    const hex = layer.digest.slice("sha256:".length);
    await writeFile(join(registry.storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data"), randomBytes(layer.size));

    const b = await freshStore();
    const cache = await RemoteCache.import(ref, { store: b, registry: { ...registryOptions, retries: 1, retryDelayMs: 1 } });
    await expect(cache.ensureLayer(layer)).rejects.toThrow(/do not match the digest/);
    expect(await hasBlob(b.content, layer.digest)).toBe(false);
  });

  it("treats a tag or repository that does not exist yet as an empty cache", async () => {
    const store = await freshStore();
    for (const ref of [`${registry.host}/nothing/here:cache`, `${registry.host}/app/cache:no-such-tag`]) {
      const cache = await RemoteCache.import(ref, { store, registry: registryOptions });
      expect(cache.lookup(key("apt"))).toBeUndefined();
      expect(cache.records.size).toBe(0);
    }
  });

  it("refuses to read or overwrite a ref that holds an ordinary image, saying it is not a tbuild cache", async () => {
    const store = await freshStore();
    const ref = `${registry.host}/app/web:release`;
    const image = await makeImage(store, ref, [{ "etc/motd": "hello" }]);
    await pushImage(store, ref, undefined, registryOptions);
    const err = await RemoteCache.import(ref, { store: await freshStore(), registry: registryOptions }).catch((e: unknown) => e);
    expect(err).toMatchObject({ category: "failed-precondition", message: expect.stringContaining(`${ref} is not a tbuild cache`) });
    expect((err as Error).message).toContain("application/vnd.oci.image.config.v1+json");

    await expect(exportCache(ref, new Map([[key("x"), { layer: null }]]), { store, registry: registryOptions })).rejects.toThrow(`${ref} is not a tbuild cache`);
    const { stdout } = await exec("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`]);
    expect(JSON.parse(stdout)).toMatchObject({ Digest: image.digest });
  });

  it("merges: records of earlier jobs are kept, re-recorded steps take the newer layer", async () => {
    const ref = `${registry.host}/ci/cache:merge`;
    const job1 = await freshStore();
    const old = await layerOf(job1, { a: Buffer.from("job 1") });
    await exportCache(ref, new Map([[key("a"), { layer: old }], [key("shared"), { layer: old }]]), { store: job1, registry: registryOptions });

    // Job 2 starts empty: it never downloads job 1's layer, yet the merged cache keeps it.
    const job2 = await freshStore();
    const imported = await RemoteCache.import(ref, { store: job2, registry: registryOptions });
    const mine = await layerOf(job2, { b: Buffer.from("job 2") });
    const result = await exportCache(ref, new Map([[key("b"), { layer: mine }], [key("shared"), { layer: mine }]]), {
      store: job2,
      registry: registryOptions,
      merge: imported,
    });
    expect(result).toMatchObject({ records: 3, layers: 2 });
    expect(await hasBlob(job2.content, old.digest)).toBe(false);

    const after = await RemoteCache.import(ref, { store: await freshStore(), registry: registryOptions });
    expect(after.lookup(key("a"))).toEqual({ layer: old });
    expect(after.lookup(key("b"))).toEqual({ layer: mine });
    expect(after.lookup(key("shared"))).toEqual({ layer: mine });
    expect((await skopeoRaw(ref)).layers.map((l) => l.digest).sort()).toEqual([old.digest, mine.digest].sort());
  });

  it(`keeps at most ${MAX_CACHE_RECORDS} records when merging, dropping the oldest`, async () => {
    const ref = `${registry.host}/ci/cache:capped`;
    const store = await freshStore();
    const many = new Map<string, StepRecord>(Array.from({ length: MAX_CACHE_RECORDS - 1 }, (_, i) => [key(`old ${i}`), { layer: null }]));
    await exportCache(ref, many, { store, registry: registryOptions });
    const imported = await RemoteCache.import(ref, { store, registry: registryOptions });
    const fresh = new Map<string, StepRecord>([[key("new 1"), { layer: null }], [key("new 2"), { layer: null }]]);
    expect(await exportCache(ref, fresh, { store, registry: registryOptions, merge: imported })).toMatchObject({ records: MAX_CACHE_RECORDS });

    const after = await RemoteCache.import(ref, { store, registry: registryOptions });
    expect(after.lookup(key("old 0"))).toBeUndefined();
    expect(after.lookup(key("old 1"))).toEqual({ layer: null });
    expect(after.lookup(key("new 2"))).toEqual({ layer: null });
  });
});
