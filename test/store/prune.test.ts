/**
 * `tbuild prune` across blobs, snapshots and the build cache, on state made by hand with
 * the real APIs: images and blobs in the store, step records in the cache index, and a
 * snapshot tree as a build leaves it (committed layers, one build still running).
 */
import { mkdir, readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { StepCache, stepKey } from "../../src/cache/step-cache.js";
import { TreeDigests } from "../../src/cache/tree-digests.js";
import { openSnapshotter, type Snapshotter } from "../../src/snapshotter/snapshotter.js";
import { openStore, type ImageStore } from "../../src/store/image-store.js";
import { Lease } from "../../src/store/lease.js";
import { prune } from "../../src/maintenance/prune.js";
import { planReclaim } from "../../src/store/reclaim.js";
import { rootlessEnv } from "../setup/rootless.js";
import { tarOf } from "../snapshotter/helpers.js";
import { makeImage, makeLayer, tbuild, tempDir } from "./helpers.js";
import { hasBlob } from "../../src/content/blob-io.js";

const DAY = 24 * 3600 * 1000;

/** Committed snapshot `name` on `parent` holding one file of `bytes` bytes. */
async function committed(s: Snapshotter, name: string, parent: string | undefined, bytes: number): Promise<void> {
  const [m] = await s.prepare(`extract-${name}`, parent);
  await writeFile(join(m!.source, `${name}.bin`), Buffer.alloc(bytes, 7));
  await s.commit(name, `extract-${name}`);
}

interface State {
  root: string;
  store: ImageStore;
  snapshotter: Snapshotter;
  cache: StepCache;
  keys: { cached: string; dangling: string; empty: string };
  cachedLayer: string;
  untaggedLayer: string;
  imageLayer: string;
}

/**
 * A tagged image; an untagged one; a cache record naming a layer no image uses, one
 * naming a blob that is gone, one with no layer; snapshots base ← mid ← leaf and
 * base ← busy ← an active snapshot of a running build; an old and a fresh scratch dir.
 */
async function state(): Promise<State> {
  const root = await tempDir();
  const store = await openStore(root);
  const image = await store.resolve((await makeImage(store, "keep:1", [{ "bin/a": "a" }])).digest);
  await makeImage(store, "drop:1", [{ "only/in-drop": "bye" }]);
  const untaggedLayer = (await store.resolve("drop:1")).manifest.layers[0]!.digest;
  await store.untag("drop:1");
  const cache = new StepCache(root);
  const cached = await makeLayer(store, { "built/by/a/step": "output" });
  const keys = { cached: stepKey("base", 1), dangling: stepKey("base", 2), empty: stepKey("base", 3) };
  await cache.put(keys.cached, { layer: { ...cached.desc, diffID: cached.diffId } });
  await cache.put(keys.dangling, { layer: { mediaType: cached.desc.mediaType, digest: `sha256:${"0".repeat(64)}`, size: 9, diffID: `sha256:${"1".repeat(64)}` } });
  await cache.put(keys.empty, { layer: null });

  const snapshotter = await openSnapshotter({ root: join(root, "snapshotter"), driver: "native" });
  await committed(snapshotter, "base", undefined, 1000);
  await committed(snapshotter, "mid", "base", 20_000);
  await committed(snapshotter, "leaf", "mid", 30_000);
  await committed(snapshotter, "busy", "base", 1000);
  await snapshotter.prepare("running-step", "busy");

  await mkdir(join(root, "tmp", "build-old", "copy-1"), { recursive: true });
  await writeFile(join(root, "tmp", "build-old", "copy-1", "f"), "x");
  const old = new Date(Date.now() - 2 * DAY);
  await utimes(join(root, "tmp", "build-old"), old, old);
  await mkdir(join(root, "tmp", "build-live"), { recursive: true });
  return { root, store, snapshotter, cache, keys, cachedLayer: cached.desc.digest, untaggedLayer, imageLayer: image.manifest.layers[0]!.digest };
}

const keysOf = async (s: Snapshotter): Promise<string[]> => (await s.walk()).map((x) => x.key).sort();
const recordKeys = async (c: StepCache): Promise<string[]> => (await c.records()).map((r) => r.key).sort();

describe("prune", () => {
  it("removes unused snapshots leaf first, dangling cache records, unreferenced blobs and dead scratch dirs; a running build keeps its snapshots", async () => {
    const s = await state();
    const r = await prune(s.store);
    expect(r.snapshots.map((x) => x.key)).toEqual(["leaf", "mid"]);
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "running-step"]);
    // The running build can still use its tree.
    await s.snapshotter.commit("busy-next", "running-step");
    expect(r.cacheRecords).toEqual([s.keys.dangling]);
    expect(await recordKeys(s.cache)).toEqual([s.keys.cached, s.keys.empty].sort());
    expect(await hasBlob(s.store.content, s.cachedLayer)).toBe(true);
    expect(await hasBlob(s.store.content, s.imageLayer)).toBe(true);
    expect(await hasBlob(s.store.content, s.untaggedLayer)).toBe(false);
    expect(r.removed).toHaveLength(3);
    expect(await readdir(join(s.root, "tmp"))).toEqual(["build-live"]);
    expect(r.snapshotBytes).toBeGreaterThanOrEqual(50_000);
    expect((await s.store.resolve("keep:1")).config.architecture).toBe("amd64");
  });

  it("a live lease keeps the blobs and snapshots it holds, and blobs written since it began; a dead process's lease expires", async () => {
    const s = await state();
    const old = await makeLayer(s.store, { "made/before/the/lease": "old" });
    const longAgo = new Date(Date.now() - 3600_000);
    await utimes(s.store.content.blobPath(old.desc.digest), longAgo, longAgo);
    await utimes(s.store.content.blobPath(s.untaggedLayer), longAgo, longAgo);
    // This test process holds the lease, as a running build would.
    const lease = await Lease.open(s.root, "build");
    expect(await lease.holdBlobs([{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: s.cachedLayer, size: 1 }], (d) => hasBlob(s.store.content, d))).toBe(true);
    await lease.holdSnapshots(["leaf"]);
    const fresh = await makeLayer(s.store, { "written/during/the/lease": "new" });
    // A lease file of a process that is gone (pid 999999999 does not run).
    await writeFile(join(s.root, "leases", "999999999.1-dead.json"), JSON.stringify({ owner: { host: hostname(), pid: 999999999, start: "1" }, purpose: "build", created: 0, blobs: [{ mediaType: "x", digest: old.desc.digest, size: 1 }], snapshots: ["mid"] }));
    const r = await prune(s.store, { all: true });
    expect(r.leases).toBe(1);
    expect(await hasBlob(s.store.content, s.cachedLayer)).toBe(true);
    expect(await hasBlob(s.store.content, fresh.desc.digest)).toBe(true);
    expect(await hasBlob(s.store.content, old.desc.digest)).toBe(false);
    expect(await hasBlob(s.store.content, s.untaggedLayer)).toBe(false);
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "leaf", "mid", "running-step"]);
    expect(await readdir(join(s.root, "leases"))).toEqual([expect.stringMatching(new RegExp(`^${process.pid}\\.`))]);
    await lease.release();
    const after = await prune(s.store, { all: true });
    expect(after.leases).toBe(0);
    expect(await hasBlob(s.store.content, s.cachedLayer)).toBe(false);
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "running-step"]);
  });

  it("reclaims what killed processes left: their working snapshots (which then no longer pin parents), unlisted snapshot directories, half-made ones", async () => {
    const s = await state();
    const snapshots = join(s.root, "snapshotter", "snapshots");
    // A build killed mid-RUN: its active snapshot on leaf, labelled with an owner that is gone.
    const meta = JSON.parse(await readFile(join(s.root, "snapshotter", "metadata.json"), "utf8")) as { nextId: number; snapshots: Record<string, { id: string; kind: string; parent?: string; created: string; labels: Record<string, string> }> };
    const id = String(meta.nextId++);
    meta.snapshots["run-killed"] = { id, kind: "active", parent: "leaf", created: new Date().toISOString(), labels: { "tbuild.owner": `${hostname()} 999999999 1` } };
    await mkdir(join(snapshots, id, "fs"), { recursive: true });
    await writeFile(join(snapshots, id, "fs", "half-written"), Buffer.alloc(10_000));
    await writeFile(join(s.root, "snapshotter", "metadata.json"), JSON.stringify(meta));
    // A prune killed between deleting a record and its tree; a create killed after placing its directory.
    await mkdir(join(snapshots, "9999", "fs"), { recursive: true });
    await writeFile(join(snapshots, "9999", "fs", "f"), Buffer.alloc(20_000));
    await mkdir(join(s.root, "snapshotter", "tmp", "new-999999999.1-abc", "fs"), { recursive: true });
    const r = await prune(s.store);
    expect(r.snapshots.map((x) => x.key)).toEqual(expect.arrayContaining(["run-killed", "leaf", "mid"]));
    expect(r.scratch.paths).toEqual(expect.arrayContaining([join(snapshots, "9999"), join(s.root, "snapshotter", "tmp", "new-999999999.1-abc")]));
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "running-step"]);
    const listed = (await s.snapshotter.walk()).length;
    expect((await readdir(snapshots)).length).toBe(listed);
    expect(await readdir(join(s.root, "snapshotter", "tmp"))).toEqual([]);
  });

  it("--all drops every cache record, so layers only the cache kept are swept; images stay", async () => {
    const s = await state();
    const digests = new TreeDigests(s.root);
    await digests.put("sha256:" + "a".repeat(64), { sources: ["/out"], excludes: [] }, "sha256:" + "b".repeat(64));
    const r = await prune(s.store, { all: true });
    // The COPY --from digests kept per snapshot chain are build cache too.
    expect(await digests.get("sha256:" + "a".repeat(64), { sources: ["/out"], excludes: [] })).toBeUndefined();
    expect(r.cacheRecords).toEqual(Object.values(s.keys).sort());
    expect(await recordKeys(s.cache)).toEqual([]);
    expect(await hasBlob(s.store.content, s.cachedLayer)).toBe(false);
    expect(await hasBlob(s.store.content, s.imageLayer)).toBe(true);
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "running-step"]);
  });

  it("a dry run reports what prune --all would free and changes nothing", async () => {
    const s = await state();
    const r = await prune(s.store, { all: true, dryRun: true });
    expect(r.cacheRecords).toHaveLength(3);
    expect(r.removed.map((b) => b.digest)).toContain(s.cachedLayer);
    expect(r.snapshots.map((x) => x.key)).toEqual(["leaf", "mid"]);
    expect(r.scratch.paths).toEqual([join(s.root, "tmp", "build-old")]);
    expect(await recordKeys(s.cache)).toHaveLength(3);
    expect(await hasBlob(s.store.content, s.cachedLayer)).toBe(true);
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "leaf", "mid", "running-step"]);
    expect((await readdir(join(s.root, "tmp"))).sort()).toEqual(["build-live", "build-old"]);
  });

  it("--keep-storage is one budget over blobs and snapshots: least recent first, never a parent before its child", async () => {
    const s = await state();
    const oldBlob = s.untaggedLayer;
    const old = new Date(Date.now() - 3 * DAY);
    await utimes(s.store.content.blobPath(oldBlob), old, old);
    // Every other unreferenced blob is newer than every snapshot.
    const later = new Date(Date.now() + DAY);
    const unreferenced = (await prune(s.store, { dryRun: true })).removed.filter((b) => b.digest !== oldBlob);
    for (const b of unreferenced) await utimes(s.store.content.blobPath(b.digest), later, later);
    const mid = (await s.snapshotter.usage("mid")).size;
    const keep = mid + unreferenced.reduce((n, b) => n + b.size, 0);
    // mid is older than leaf, but leaf is based on it: leaf must go first, then the budget is met.
    const r = await prune(s.store, { keepStorage: keep });
    expect(r.removed.map((b) => b.digest)).toEqual([oldBlob]);
    expect(r.snapshots.map((x) => x.key)).toEqual(["leaf"]);
    expect(await keysOf(s.snapshotter)).toEqual(["base", "busy", "mid", "running-step"]);
    for (const b of unreferenced) expect(await hasBlob(s.store.content, b.digest)).toBe(true);
  });

  it("tbuild du shows blobs, snapshots and the build cache; tbuild prune prints what it freed", async () => {
    const s = await state();
    const du = await tbuild(["du", "--root", s.root]);
    expect(du.stderr).toBe("");
    expect(du.stdout).toMatch(/^TYPE\s+COUNT\s+SIZE\s+RECLAIMABLE$/m);
    expect(du.stdout).toMatch(/^referenced\s+4\s/m); // keep:1's manifest, config, layer + the cached layer
    expect(du.stdout).toMatch(/^unreferenced\s+3\s/m);
    expect(du.stdout).toMatch(/^snapshots\s+5\s+\d+(\.\d+)?kB\s+\d+(\.\d+)?kB$/m);
    expect(du.stdout).toMatch(/^build cache\s+3 record\(s\)\s+\d+B\s+\d+B with --all$/m);
    const out = await tbuild(["prune", "--root", s.root]);
    expect(out.stderr).toBe("");
    expect(out.stdout).toContain(`Deleted build cache record: ${s.keys.dangling}\n`);
    expect(out.stdout).toContain("Deleted snapshot: leaf\nDeleted snapshot: mid\n");
    expect(out.stdout).toContain(`Deleted abandoned build directory: ${join(s.root, "tmp", "build-old")}\n`);
    expect(out.stdout).toMatch(/Total reclaimed space: \S+ \(3 blob\(s\), 2 snapshot\(s\), 1 build cache record\(s\), 1 abandoned build directory\)\n$/);
    expect((await tbuild(["du", "--root", s.root])).stdout).toMatch(/^snapshots\s+3\s.*\s0B$/m);
  });
});

const env = rootlessEnv();
describe.skipIf(env === undefined)("prune as a normal user", () => {
  it("removes snapshots holding files of image users (subordinate ids) through the namespace helper", async () => {
    const e = env!;
    const work = e.workDir();
    const layer = join(work, "layer.tar");
    await writeFile(layer, await tarOf([{ name: "var/", type: "directory", mode: 0o700, uid: 999, gid: 999 }, { name: "var/db", body: "x", uid: 999, gid: 999 }]));
    const script = `import { createReadStream } from "node:fs";
      import { openStore } from ${JSON.stringify(join(e.app, "dist/store/index.js"))};
      import { prune } from ${JSON.stringify(join(e.app, "dist/maintenance/prune.js"))};
      import { openSnapshotter } from ${JSON.stringify(join(e.app, "dist/snapshotter/index.js"))};
      const root = ${JSON.stringify(join(work, "store"))};
      const store = await openStore(root);
      const s = await openSnapshotter({ root: root + "/snapshotter", driver: "native" });
      await s.prepare("x", undefined);
      await s.apply("x", createReadStream(${JSON.stringify(layer)}), { layer: "test" });
      await s.commit("owned-by-999", "x");
      const r = await prune(store);
      process.stdout.write(JSON.stringify({ removed: r.snapshots.map((x) => x.key), left: (await s.walk()).length }));`;
    const r = await e.run(process.execPath, ["--input-type=module", "-e", script]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ removed: ["owned-by-999"], left: 0 });
    expect(await readdir(join(work, "store", "snapshotter", "snapshots"))).toEqual([]);
  });
});

describe("planReclaim", () => {
  it("takes the oldest ready item each time and a parent only after its children", () => {
    const c = (id: string, time: number, parent?: string) => ({ id, time, size: 10, item: id, ...(parent === undefined ? {} : { parent }) });
    const order = planReclaim([c("p", 1), c("child", 5, "p"), c("blob", 3), c("other", 9)]).map((x) => x.id);
    expect(order).toEqual(["blob", "child", "p", "other"]);
    expect(planReclaim([c("p", 1), c("child", 5, "p"), c("blob", 3)], 15).map((x) => x.id)).toEqual(["blob", "child"]);
  });
});
