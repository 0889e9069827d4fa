/**
 * The cache backends as a CI pipeline uses them, through real builds: a registry cache
 * (the real docker-registry) in min and max mode, a local OCI-layout directory that
 * skopeo reads, inline records in a pushed image, several --cache-from at once, and
 * options refused before anything runs.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { layoutExporter, LayoutCache, LAYOUT_CACHE_NAME } from "../../src/cache/layout-cache.js";
import { digestOf } from "../../src/oci/digest.js";
import { openStore } from "../../src/store/image-store.js";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, instructionSteps } from "../builder/helpers.js";
import { tbuild } from "../cli/helpers.js";
import { exec, tempDir } from "../setup/registry.js";
import { registryForFile } from "../setup/registry-per-file.js";
import type { BuildEvent } from "../../src/events.js";
import { hasBlob } from "../../src/content/blob-io.js";

// Several real builds per test on a shared, busy machine.
vi.setConfig({ testTimeout: 300_000 });

const registry = registryForFile();

const cached = (events: BuildEvent[]): boolean[] => instructionSteps(events).map((s) => s.cached);
const stepsOf = (events: BuildEvent[], stage: string): { instruction: string; cached: boolean }[] => instructionSteps(events).filter((s) => s.stage === stage);
/** What each cache export reported: "N steps, M layers to WHERE". */
const exportsOf = (events: BuildEvent[]): string[] => events.flatMap((e) => (e.kind === "step-status" && e.id === "records" ? [e.name] : []));

/** Two stages the final image copies from, so min and max export different step sets. */
const TWO_STAGES = BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS tools") + "RUN echo tool > /tool\n" + "FROM scratch AS final\nCOPY --from=tools /tool /tool\nCOPY note.txt /\n";

describe("--cache-to / --cache-from options", () => {
  it("refuses an unknown mode, key or type before the build starts, naming what is accepted", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo must-not-run\n" });
    const root = freshRoot();
    const maxx = await tbuild(["build", "--root", root, "--cache-to", `type=registry,ref=${registry.host}/x/c:1,mode=maxx`, ctx]);
    expect(maxx.code).not.toBe(0);
    expect(maxx.stderr).toContain("mode=maxx is not one of min, max");
    expect(maxx.stderr).not.toMatch(/must-not-run|\[1\/|at .*\.js/);

    const key = await tbuild(["build", "--root", root, "--cache-to", "type=local,dest=/tmp/x,colour=red", ctx]);
    expect(key.stderr).toContain("unknown key 'colour' for type=local");
    expect(key.stderr).toMatch(/accepted keys: type, dest, mode, max-size/);

    const size = await tbuild(["build", "--root", root, "--cache-to", "type=local,dest=/tmp/x,max-size=lots", ctx]);
    expect(size.stderr).toContain("max-size=lots is not a size");

    const gha = await tbuild(["build", "--root", root, "--cache-from", "type=gha", ctx]);
    expect(gha.stderr).toContain("--cache-from type=gha is not implemented");

    const noRef = await tbuild(["build", "--root", root, "--cache-from", "type=registry", ctx]);
    expect(noRef.stderr).toContain("needs ref=");
    // Nothing ran, so nothing was cached.
    expect(existsSync(path.join(root, "cache", "steps"))).toBe(false);
  });
});

describe("a registry cache's mode", () => {
  it("exports only the final image's steps with mode=min (the default) and every stage's with mode=max", async () => {
    const ctx = context({ Dockerfile: TWO_STAGES, "note.txt": "n" });
    const minRef = `${registry.host}/app/cache:min`;
    const maxRef = `${registry.host}/app/cache:max`;
    const built = await buildCollecting({ context: ctx, root: freshRoot(), cacheTo: [{ type: "registry", ref: maxRef, mode: "max", ignoreError: false }, { type: "registry", ref: minRef, mode: "min", ignoreError: false }] });
    // tools: COPY, RUN, RUN; final: COPY --from, COPY.
    expect(exportsOf(built.events)).toEqual([expect.stringMatching(new RegExp(`^5 steps, .* to ${maxRef}$`)), expect.stringMatching(new RegExp(`^2 steps, .* to ${minRef}$`))]);

    const fromMin = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [minRef] });
    expect(stepsOf(fromMin.events, "tools").map((s) => s.cached)).toEqual([false, false, false]);
    expect(stepsOf(fromMin.events, "final").map((s) => s.cached)).toEqual([true, true]);

    const fromMax = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [maxRef] });
    expect(cached(fromMax.events)).toEqual([true, true, true, true, true]);
    expect(fromMax.result.descriptor.digest).toBe(built.result.descriptor.digest);
  });
});

describe("a local cache directory (type=local)", () => {
  it("is an OCI layout skopeo reads, and gives a fresh root every step", async () => {
    const dir = path.join(await tempDir("tbuild-lcache-"), "cache");
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo slow > /result\nCOPY note.txt /\n", "note.txt": "n" });
    const first = await tbuild(["build", "--root", freshRoot(), "--cache-to", `type=local,dest=${dir}`, ctx]);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(new RegExp(`#\\d+ 4 steps, 4 layers to ${dir} done`));
    const { stdout } = await exec("skopeo", ["inspect", "--raw", `oci:${dir}:${LAYOUT_CACHE_NAME}`]);
    expect((JSON.parse(stdout) as { layers: unknown[] }).layers).toHaveLength(4);

    const second = await tbuild(["build", "--root", freshRoot(), "--cache-from", `type=local,src=${dir}`, ctx]);
    expect(second.code).toBe(0);
    expect(second.stderr.match(/#\d+ CACHED/g)).toHaveLength(4);
    expect(second.stdout).toBe(first.stdout);
  });

  it("leaves the old cache whole when an export fails half-way, and deletes what no record names", async () => {
    const dir = path.join(await tempDir("tbuild-lcache-"), "cache");
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "COPY note.txt /\n", "note.txt": "one" });
    await buildCollecting({ context: ctx, root, cacheTo: { type: "local", dest: dir, mode: "min", ignoreError: false } });
    const index = readFileSync(path.join(dir, "index.json"));
    const before = await LayoutCache.open(dir, (await openStore(root)).content);

    // A record naming a layer this store does not have: the export dies after copying the layers it could.
    const store = await openStore(root);
    const present = [...before.records.values()].find((r) => r.layer !== null)!.layer!;
    const missing = { ...present, digest: digestOf("not stored"), size: 10 };
    const failing = layoutExporter(dir, store.content);
    await expect(failing.export(new Map([[digestOf("a"), { layer: present }], [digestOf("b"), { layer: missing }]]))).rejects.toThrow(/not found/);
    expect(readFileSync(path.join(dir, "index.json"))).toEqual(index);
    expect(readdirSync(path.join(dir, "blobs", "sha256")).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    const after = await LayoutCache.open(dir, store.content);
    expect([...after.records.keys()]).toEqual([...before.records.keys()]);

    // A changed file: the new export keeps the old records too, and every blob it lists is there.
    writeFileSync(path.join(ctx, "note.txt"), "two");
    const again = await buildCollecting({ context: ctx, root, cacheTo: { type: "local", dest: dir, mode: "min", ignoreError: false } });
    expect(exportsOf(again.events)).toEqual([expect.stringMatching(/^4 steps, /)]);
    const { stdout } = await exec("skopeo", ["inspect", "--raw", `oci:${dir}:${LAYOUT_CACHE_NAME}`]);
    const listed = (JSON.parse(stdout) as { layers: { digest: string }[]; config: { digest: string } });
    const blobs = readdirSync(path.join(dir, "blobs", "sha256")).map((n) => `sha256:${n}`);
    for (const l of listed.layers) expect(blobs).toContain(l.digest);
  });

  it("prunes by size (the records used longest ago first) and by age", async () => {
    const dir = path.join(await tempDir("tbuild-lcache-"), "cache");
    const root = freshRoot();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "COPY big.bin /\n", "big.bin": "x".repeat(10) });
    await buildCollecting({ context: ctx, root, cacheTo: { type: "local", dest: dir, mode: "min", ignoreError: false } });
    const blobsBefore = readdirSync(path.join(dir, "blobs", "sha256")).length;
    // busybox's layer is ~1 MB: a 100 KB cap keeps only the small records of the newest build.
    writeFileSync(path.join(ctx, "big.bin"), "y".repeat(10));
    const capped = await tbuild(["build", "--root", root, "--cache-to", `type=local,dest=${dir},max-size=100kb`, ctx]);
    expect(capped.code).toBe(0);
    const kept = await LayoutCache.open(dir, (await openStore(root)).content);
    const sizes = [...kept.records.values()].map((r) => r.layer?.size ?? 0);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(100 * 1024);
    expect(kept.records.size).toBeGreaterThan(0);
    expect(readdirSync(path.join(dir, "blobs", "sha256")).length).toBeLessThan(blobsBefore + 1);

    await new Promise((r) => setTimeout(r, 2100));
    writeFileSync(path.join(ctx, "big.bin"), "z".repeat(10));
    const aged = await buildCollecting({ context: context({ Dockerfile: "FROM scratch\nCOPY only.txt /\n", "only.txt": "o" }), root, cacheTo: { type: "local", dest: dir, mode: "min", ignoreError: false, maxAgeMs: 2000 } });
    expect(exportsOf(aged.events)).toEqual([`1 steps, 1 layers to ${dir}`]);
  });
});

describe("inline cache records (type=inline)", () => {
  it("travel in the pushed image's config, so --cache-from IMAGE gives a fresh root every step", async () => {
    const image = `${registry.host}/app/inline:1`;
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo slow > /result\n" });
    const pushed = await tbuild(["build", "--root", freshRoot(), "--cache-to", "type=inline", "--push", "-t", image, ctx]);
    expect(pushed.code).toBe(0);
    const { stdout } = await exec("skopeo", ["inspect", "--config", "--raw", "--tls-verify=false", `docker://${image}`]);
    expect(Object.keys((JSON.parse(stdout) as Record<string, Record<string, unknown>>)["tbuild.cache.v1"]!)).toHaveLength(3);

    const again = await tbuild(["build", "--root", freshRoot(), "--cache-from", image, ctx]);
    expect(again.code).toBe(0);
    expect(again.stderr.match(/#\d+ CACHED/g)).toHaveLength(3);
  });
});

describe("several caches at once", () => {
  it("asks each in order, downloads only the layers of hits, and a miss in one stage leaves other stages' hits", async () => {
    const mainRef = `${registry.host}/app/cache:main`;
    const branchDir = path.join(await tempDir("tbuild-lcache-"), "branch");
    const files = { "a.txt": "a", "b.txt": "b" };
    const dockerfile = (a: string): string => `${BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base")}FROM base AS a\nRUN echo ${a} > /a\nFROM base AS b\nRUN echo b > /b\nFROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n`;
    // main's cache has everything; the branch changed stage a and cached that locally.
    const main = await buildCollecting({ context: context({ Dockerfile: dockerfile("a1"), ...files }), root: freshRoot(), cacheTo: { type: "registry", ref: mainRef, mode: "max", ignoreError: false } });
    const branchCtx = context({ Dockerfile: dockerfile("a2"), ...files });
    await buildCollecting({ context: branchCtx, root: freshRoot(), cacheTo: { type: "local", dest: branchDir, mode: "max", ignoreError: false } });

    const root = freshRoot();
    const both = await buildCollecting({ context: branchCtx, root, cacheFrom: [{ type: "local", src: branchDir }, mainRef] });
    expect(cached(both.events).every((c) => c)).toBe(true);

    // Only main's cache, and stage a changed again: a's RUN misses, b's still hits.
    const root2 = freshRoot();
    const third = await buildCollecting({ context: context({ Dockerfile: dockerfile("a3"), ...files }), root: root2, cacheFrom: [mainRef] });
    expect(stepsOf(third.events, "a")).toMatchObject([{ cached: false }]);
    expect(stepsOf(third.events, "b")).toMatchObject([{ cached: true }]);
    // main's layer of /a holding "a1" was never needed, so never downloaded (the COPY --from=a
    // layer holds the same file, so is the same blob); every other layer was a hit's.
    expect(main.result.config.rootfs.diff_ids).toHaveLength(2);
    const store = await openStore(root2);
    const aLayer = (await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${mainRef}`])).stdout;
    const listed = (JSON.parse(aLayer) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
    const present = await Promise.all(listed.map((d) => hasBlob(store.content, d)));
    expect(present.filter((p) => !p)).toHaveLength(1);
  });
});
