/**
 * Cache mounts that travel (`--cache-to ...,cache-mounts=true`), through real builds:
 * the contents of a `RUN --mount=type=cache` id exported next to the step records to a
 * real docker-registry and to a local OCI-layout directory, seeded on a fresh root
 * before the step that mounts them, deterministic (an unchanged cache mount exports to
 * the same blob even after its files' times changed), with owners and the mount's
 * id/uid/gid/mode options kept.
 */
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { cacheMountDir } from "../../src/cache/cache-mounts.js";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, instructionSteps } from "../builder/helpers.js";
import { tbuild } from "../cli/helpers.js";
import { exec, tempDir } from "../setup/registry.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { chownTree, rootlessEnv } from "../setup/rootless.js";
import type { BuildEvent } from "../../src/events.js";

vi.setConfig({ testTimeout: 300_000 });

const registry = registryForFile();

const warnings = (events: BuildEvent[]): string[] => events.flatMap((e) => (e.kind === "warning" ? [e.message] : []));
const runSteps = (events: BuildEvent[]): boolean[] => instructionSteps(events).filter((s) => s.instruction.startsWith("RUN --mount")).map((s) => s.cached);

/** A cache config's `mounts` (cache id → layer), read from the registry over its HTTP API. */
async function registryMounts(repo: string, tag: string): Promise<Record<string, { digest: string; size: number }>> {
  const base = `http://${registry.host}/v2/${repo}`;
  const manifest = (await (await fetch(`${base}/manifests/${tag}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).json()) as { config: { digest: string } };
  const config = (await (await fetch(`${base}/blobs/${manifest.config.digest}`)).json()) as { mounts?: Record<string, { digest: string; size: number }> };
  return config.mounts ?? {};
}

/** The step writes what it found in the cache, then leaves a file owned by 1000, a hard link and a symlink there. */
const STEP = (tag: string, mount: string): string =>
  `RUN --mount=${mount} sh -c 'echo "${tag} found:$(cat /c/seen 2>/dev/null || echo nothing) owner:$(stat -c %u /c/owned 2>/dev/null) top:$(stat -c %a:%u:%g /c)"; ` +
  `echo ${tag} > /c/seen; echo data > /c/owned; chown 1000:1000 /c/owned; ln -f /c/owned /c/hard; ln -sf owned /c/sym; mkdir -p /c/deep/er; echo z > /c/deep/er/z'\n`;

describe("cache-mounts=true with a registry cache", () => {
  it("seeds a fresh root's cache mount before its first step, keeps owners and the mount's options, and an unchanged mount exports to the same blob", async () => {
    const ref = `${registry.host}/app/mounts:cache`;
    const mount = "type=cache,target=/c,id=downloads,uid=1000,gid=1000,mode=0750";
    const first = context({ Dockerfile: BUSYBOX_BASE + STEP("one", mount), "x.txt": "x" });
    const rootA = freshRoot();
    const a = await buildCollecting({ context: first, root: rootA, cacheTo: { type: "registry", ref, mode: "max", ignoreError: false, cacheMounts: true } });
    expect(a.output).toContain("one found:nothing owner: top:750:1000:1000");
    const exported = await registryMounts("app/mounts", "cache");
    expect(Object.keys(exported)).toEqual(["downloads"]);

    // Same contents, every time moved (as the next build on that machine would leave them): the same blob.
    const dir = cacheMountDir(rootA, "downloads");
    for (const f of ["seen", "owned", "deep/er/z"]) utimesSync(path.join(dir, f), 2_000_000, 3_000_000 + f.length);
    const again = await buildCollecting({ context: first, root: rootA, cacheTo: { type: "registry", ref, mode: "max", ignoreError: false, cacheMounts: true } });
    expect(runSteps(again.events)).toEqual([true]);
    expect((await registryMounts("app/mounts", "cache"))["downloads"]).toEqual(exported["downloads"]);

    // Another runner, a changed step: it runs, and finds what the first runner's step left.
    const second = context({ Dockerfile: BUSYBOX_BASE + STEP("two", mount), "x.txt": "x" });
    const b = await buildCollecting({ context: second, root: freshRoot(), cacheFrom: [ref] });
    expect(runSteps(b.events)).toEqual([false]);
    expect(b.output).toContain("two found:one owner:1000 top:750:1000:1000");
    expect(warnings(b.events)).toEqual([]);

    // Without the import the same build starts from an empty cache mount.
    const cold = await buildCollecting({ context: second, root: freshRoot() });
    expect(cold.output).toContain("two found:nothing");
  });

  it("keeps an imported cache mount in the next export when every step using it hit (nothing mounted it)", async () => {
    const ref = `${registry.host}/app/carried:cache`;
    const ctx = context({ Dockerfile: BUSYBOX_BASE + STEP("one", "type=cache,target=/c") });
    await buildCollecting({ context: ctx, root: freshRoot(), cacheTo: { type: "registry", ref, mode: "max", ignoreError: false, cacheMounts: true } });
    const before = await registryMounts("app/carried", "cache");
    const other = `${registry.host}/app/carried:other`;
    const hit = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [ref], cacheTo: { type: "registry", ref: other, mode: "max", ignoreError: false, cacheMounts: true } });
    expect(runSteps(hit.events)).toEqual([true]);
    // The id defaults to the target, as in BuildKit.
    expect(Object.keys(before)).toEqual(["/c"]);
    expect(await registryMounts("app/carried", "other")).toEqual(before);
  });
});

describe("cache-mounts=true with a local cache directory (CLI)", () => {
  it("writes a deterministic tar next to the records and seeds a fresh root from it; sharing=locked steps still run", async () => {
    const dir = path.join(await tempDir("tbuild-mcache-"), "cache");
    const mount = "type=cache,target=/c,sharing=locked";
    const first = context({ Dockerfile: BUSYBOX_BASE + STEP("one", mount) });
    const out = await tbuild(["build", "--progress", "plain", "--root", freshRoot(), "--cache-to", `type=local,dest=${dir},cache-mounts=true`, first]);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/1 cache mounts, \d+ layers to /);

    const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const blob = (d: string): string => path.join(dir, "blobs", "sha256", d.slice("sha256:".length));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), "utf8")) as { config: { digest: string } };
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), "utf8")) as { mounts: Record<string, { digest: string }> };
    const layer = blob(config.mounts["/c"]!.digest);
    // GNU tar, which nobody here wrote: sorted entries, every time at the epoch, the owner kept, the hard link a link.
    const listing = (await exec("tar", ["--numeric-owner", "-tvzf", layer])).stdout.trim().split("\n");
    const names = listing.map((l) => l.split(/\s+/)[5]!);
    expect(names).toEqual(["deep", "deep/er", "deep/er/z", "hard", "owned", "seen", "sym"]);
    expect(listing.every((l) => l.includes("1970-01-01 00:00"))).toBe(true);
    // "hard" sorts first, so the second name of the inode, "owned", is the link.
    expect(listing.find((l) => l.endsWith(" hard"))).toMatch(/^-rw-r--r-- 1000\/1000 /);
    expect(listing.some((l) => l.endsWith(" owned link to hard"))).toBe(true);

    const second = context({ Dockerfile: BUSYBOX_BASE + STEP("two", mount) });
    const seeded = await tbuild(["build", "--progress", "plain", "--root", freshRoot(), "--cache-from", `type=local,src=${dir}`, second]);
    expect(seeded.code).toBe(0);
    expect(seeded.stderr).toContain("two found:one owner:1000");
  });

  it("refuses cache-mounts on an inline cache and a value other than true/false, before anything runs", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo must-not-run\n" });
    const inline = await tbuild(["build", "--root", freshRoot(), "--cache-to", "type=inline,cache-mounts=true", ctx]);
    expect(inline.code).not.toBe(0);
    expect(inline.stderr).toContain("an inline cache holds only the image's own layers, not cache mounts");
    const bad = await tbuild(["build", "--root", freshRoot(), "--cache-to", "type=local,dest=/tmp/x,cache-mounts=yes", ctx]);
    expect(bad.stderr).toContain("cache-mounts=yes is not one of true, false");
    expect(`${inline.stderr}${bad.stderr}`).not.toMatch(/must-not-run|at .*\.js/);
  });
});

/** Of the layer blob files given, those whose tar holds `file` (a file already removed is skipped). */
async function holding(files: string[], file: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    if ((await exec("tar", ["-tzf", f])).stdout.split("\n").includes(file)) out.push(f);
  }
  return out;
}

/** The layer blob files a local cache's manifest lists. */
function localLayers(dir: string): string[] {
  const blobs = path.join(dir, "blobs", "sha256");
  const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(path.join(blobs, index.manifests[0]!.digest.slice(7)), "utf8")) as { layers: { digest: string }[] };
  return manifest.layers.map((l) => path.join(blobs, l.digest.slice(7)));
}

/** Flips a byte near the end: the same size, another digest. */
function damage(file: string): void {
  const bytes = readFileSync(file);
  bytes[bytes.length - 10] ^= 0xff;
  writeFileSync(file, bytes);
}

describe("a damaged or missing blob in an imported cache", () => {
  const dockerfile = `${BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base")}FROM base AS a\nRUN echo a > /a-out\nFROM base AS b\nRUN echo b > /b-out\nFROM scratch\nCOPY --from=a /a-out /a-out\nCOPY --from=b /b-out /b-out\n`;

  it("is a miss for that step with a warning, the build succeeds, and other stages still hit (local cache)", async () => {
    const dir = path.join(await tempDir("tbuild-dcache-"), "cache");
    const ctx = context({ Dockerfile: dockerfile });
    await buildCollecting({ context: ctx, root: freshRoot(), cacheTo: { type: "local", dest: dir, mode: "max", ignoreError: false } });
    // The layers holding stage a's file (its RUN's, the final COPY's) damaged in place.
    const damaged = await holding(localLayers(dir), "a-out");
    expect(damaged.length).toBeGreaterThan(0);
    damaged.forEach(damage);

    const r = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [{ type: "local", src: dir }] });
    const steps = instructionSteps(r.events);
    expect(steps.filter((s) => s.stage === "a")).toMatchObject([{ cached: false }]);
    expect(steps.filter((s) => s.stage === "b")).toMatchObject([{ cached: true }]);
    expect(warnings(r.events).join("\n")).toMatch(/not taken from the local cache .*does not match its digest/);

    // The damaged blob was removed; now stage b's layer goes too: both RUNs run, base still hits.
    for (const gone of await holding(localLayers(dir), "b-out")) rmSync(gone);
    const r2 = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [{ type: "local", src: dir }] });
    expect(instructionSteps(r2.events).filter((s) => s.stage !== "base").slice(0, 2).map((s) => s.cached)).toEqual([false, false]);
    expect(instructionSteps(r2.events).filter((s) => s.stage === "base").every((s) => s.cached)).toBe(true);
    expect(warnings(r2.events).join("\n")).toMatch(/not taken from the local cache .*but the file is gone/);
  });

  it("is a miss with a warning when the registry serves bytes that do not match, and a damaged cache mount blob leaves the mount empty", async () => {
    const ref = `${registry.host}/app/damaged:cache`;
    const ctx = context({ Dockerfile: dockerfile.replace("RUN echo b > /b-out", `RUN --mount=type=cache,target=/c,id=m sh -c 'echo "b found:$(cat /c/seen 2>/dev/null || echo nothing)"; echo b > /c/seen; echo b > /b-out'`) });
    await buildCollecting({ context: ctx, root: freshRoot(), cacheTo: { type: "registry", ref, mode: "max", ignoreError: false, cacheMounts: true } });
    const mounts = await registryMounts("app/damaged", "cache");
    // Damage, in the registry's own storage, the layers holding stage a's file and the cache mount's.
    const manifest = (await (await fetch(`http://${registry.host}/v2/app/damaged/manifests/cache`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).json()) as { layers: { digest: string }[] };
    const dataFile = (digest: string): string => path.join(registry.storage, "docker/registry/v2/blobs/sha256", digest.slice(7, 9), digest.slice(7), "data");
    const aLayers = await holding(manifest.layers.map((l) => dataFile(l.digest)), "a-out");
    expect(aLayers.length).toBeGreaterThan(0);
    [...aLayers, dataFile(mounts["m"]!.digest)].forEach(damage);
    // Stage b's RUN changes (a new cache key), so it runs and would be seeded.
    const changed = context({ Dockerfile: readFileSync(path.join(ctx, "Dockerfile"), "utf8").replace("echo b > /b-out", "echo b2 > /b-out") });
    const r = await buildCollecting({ context: changed, root: freshRoot(), cacheFrom: [ref] });
    expect(instructionSteps(r.events).filter((s) => s.stage === "a")).toMatchObject([{ cached: false }]);
    expect(instructionSteps(r.events).filter((s) => s.stage === "base").every((s) => s.cached)).toBe(true);
    expect(r.output).toContain("b found:nothing");
    const text = warnings(r.events).join("\n");
    expect(text).toMatch(/not taken from the registry cache .*do not match the digest/);
    expect(text).toMatch(/cache mount 'm' not seeded from the registry cache/);
  });
});

const rootless = rootlessEnv();

describe.skipIf(rootless === undefined)("cache-mounts=true as a non-root user", () => {
  it("exports image owners (not the subordinate ids on the host) and seeds them back on a fresh root", async () => {
    const env = rootless!;
    const work = env.workDir();
    const cacheDir = path.join(work, "cache");
    const cli = (args: string[], ctx: string) => env.run(process.execPath, [path.join(env.app, "dist/cli/main.js"), "build", "--progress", "plain", ...args, ctx]);
    const mount = "type=cache,target=/c,id=rl,uid=1000,gid=1000";
    const first = context({ Dockerfile: BUSYBOX_BASE + STEP("one", mount) }, work);
    chownTree(first, env.uid, env.gid);
    const a = await cli(["--root", path.join(work, "store-a"), "--cache-to", `type=local,dest=${cacheDir},cache-mounts=true`], first);
    expect(a.stderr).toContain("one found:nothing owner: top:755:1000:1000");
    expect(a.status).toBe(0);

    const index = JSON.parse(readFileSync(path.join(cacheDir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const blob = (d: string): string => path.join(cacheDir, "blobs", "sha256", d.slice("sha256:".length));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), "utf8")) as { config: { digest: string } };
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), "utf8")) as { mounts: Record<string, { digest: string }> };
    const listing = (await exec("tar", ["--numeric-owner", "-tvzf", blob(config.mounts["rl"]!.digest)])).stdout;
    // Inside the cache the step made "hard" (and its link "owned") 1000's and the rest root's: so they travel.
    expect(listing).toMatch(/^-rw-r--r-- 1000\/1000 .* hard$/m);
    expect(listing).toMatch(/^-rw-r--r-- 0\/0 .* seen$/m);

    const second = context({ Dockerfile: BUSYBOX_BASE + STEP("two", mount) }, work);
    chownTree(second, env.uid, env.gid);
    const b = await cli(["--root", path.join(work, "store-b"), "--cache-from", `type=local,src=${cacheDir}`], second);
    expect(b.status).toBe(0);
    expect(b.stderr).toContain("two found:one owner:1000 top:755:1000:1000");
  });
});
