import path from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/image-store.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { spawnAsync } from "../setup/spawn.js";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, instructionSteps } from "./helpers.js";

const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");
const registry = registryForFile();

describe("builds with a registry", () => {
  it("pulls a FROM image it does not have, expands against its ENV, and pushes the result with --push", async () => {
    const base = `${registry.host}/tbuild/base:1`;
    const app = `${registry.host}/tbuild/app:1`;
    const baseCtx = context({ Dockerfile: BUSYBOX_BASE + "ENV APPDIR=/srv/app\n" });
    const pushedBase = await spawnAsync(process.execPath, [cli, "build", "--root", freshRoot(), "--push", "-q", "-t", base, baseCtx]);
    expect(pushedBase.stderr).toBe("");
    expect(pushedBase.status).toBe(0);

    // A second machine: an empty store, so FROM must pull.
    const root = freshRoot();
    const ctx = context({ Dockerfile: `FROM ${base}\nWORKDIR $APPDIR\nRUN echo ok > status\n` });
    const { result } = await buildCollecting({ context: ctx, root, tags: [app] });
    expect(result.config.config?.WorkingDir).toBe("/srv/app");
    expect(result.config.rootfs.diff_ids).toHaveLength(4);
    const store = await openStore(root);
    expect((await store.resolve(base)).manifest.layers).toHaveLength(2);

    const pushed = await spawnAsync(process.execPath, [cli, "build", "--root", root, "--push", "-t", app, ctx]);
    expect(pushed.status).toBe(0);
    expect(pushed.stderr).toMatch(new RegExp(`pushed ${app.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}@sha256:`));
    const remote = JSON.parse((await spawnAsync("skopeo", ["inspect", "--tls-verify=false", `docker://${app}`])).stdout) as { Layers: string[] };
    expect(remote.Layers).toHaveLength(4);
  });

  it("explains an unreachable base image instead of failing with an errno", async () => {
    const ctx = context({ Dockerfile: "FROM 127.0.0.1:1/nothing/here:1\n" });
    const err = await buildCollecting({ context: ctx, root: freshRoot(), registry: { retries: 0 } }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/127\.0\.0\.1:1/);
    expect((err as Error).message).not.toMatch(/ECONNREFUSED\s*$/);
  });
});

describe("a build cache shared through a registry", () => {
  it("lets a fresh machine reuse every step of an earlier build, and says so", async () => {
    const cacheRef = `${registry.host}/tbuild/cache:buildcache`;
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo slow-step > /result\nCOPY note.txt /\n", "note.txt": "n" });
    const first = await buildCollecting({ context: ctx, root: freshRoot(), cacheTo: cacheRef });
    expect(first.events.some((e) => e.kind === "step-status" && e.name.startsWith("4 steps, "))).toBe(true);

    const second = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [cacheRef] });
    const flags = instructionSteps(second.events).map((s) => s.cached);
    expect(flags).toEqual([true, true, true, true]);
    expect(second.result.config.rootfs.diff_ids).toEqual(first.result.config.rootfs.diff_ids);
    expect(second.output).toBe("");
  });

  it("builds anyway when the cache cannot be read", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" });
    const { events } = await buildCollecting({ context: ctx, root: freshRoot(), cacheFrom: [`${registry.host}/tbuild/base:1`] });
    expect(events.some((e) => e.kind === "warning" && /not a tbuild cache/.test(e.message))).toBe(true);
  });
});
