/**
 * --explain-cache through real builds: one changed context file, one changed build
 * arg, a rebuilt base image, and a fresh root explaining against an imported cache.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { BuildEvent } from "../../src/events.js";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot } from "../builder/helpers.js";
import { tbuild } from "../cli/helpers.js";
import { tempDir } from "../setup/registry.js";

// Several real builds per test on a shared, busy machine.
vi.setConfig({ testTimeout: 300_000 });

/** Each missed instruction with the reason given, in order. */
function misses(events: BuildEvent[]): { instruction: string; reason: string }[] {
  const names = new Map(events.flatMap((e) => (e.kind === "step-start" ? [[e.step, e.instruction ?? e.name] as const] : [])));
  return events.flatMap((e) => (e.kind === "cache-miss" ? [{ instruction: names.get(e.step)!, reason: e.reason }] : []));
}

describe("--explain-cache", () => {
  it("names the changed file, the changed build arg (never its value) and the rebuilt base image", async () => {
    const root = freshRoot();
    const baseCtx = context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nCOPY v.txt /v\n", "v.txt": "1" });
    await buildCollecting({ context: baseCtx, root, tags: ["localbase:1"] });
    const run = 'RUN ["/bin/busybox", "sh", "-c", "echo $MODE > /mode"]';
    const app = context({ Dockerfile: `FROM localbase:1\nARG MODE=plain\nCOPY src/ /src/\n${run}\n`, "src/a.txt": "a", "src/b.txt": "b", "src/c.txt": "c" });
    const first = await buildCollecting({ context: app, root, explainCache: true });
    expect(misses(first.events)).toHaveLength(2);

    writeFileSync(path.join(app, "src", "b.txt"), "B");
    const file = await buildCollecting({ context: app, root, explainCache: true });
    expect(misses(file.events)).toEqual([
      { instruction: "COPY src/ /src/", reason: "files changed: src/b.txt" },
      { instruction: run, reason: "its parent step changed: an earlier step missed and ran" },
    ]);

    const secret = "s3cr3t-value";
    const arg = await buildCollecting({ context: app, root, explainCache: true, buildArgs: { MODE: secret } });
    expect(misses(arg.events)).toEqual([{ instruction: run, reason: "build arg MODE changed" }]);
    // The cache records hold fingerprints, never the value.
    const recordsDir = path.join(root, "cache", "steps");
    for (const name of readdirSync(recordsDir)) expect(readFileSync(path.join(recordsDir, name), "utf8")).not.toContain(secret);

    writeFileSync(path.join(baseCtx, "v.txt"), "2");
    await buildCollecting({ context: baseCtx, root, tags: ["localbase:1"] });
    const rebased = await buildCollecting({ context: app, root, explainCache: true });
    expect(misses(rebased.events)[0]).toEqual({ instruction: "COPY src/ /src/", reason: expect.stringMatching(/^the base image changed: localbase:1 is now sha256:[0-9a-f]{12}, the cache has this step on sha256:[0-9a-f]{12}$/) });
  });

  it("explains a fresh root's misses against an imported cache, on the command line", async () => {
    const dir = path.join(await tempDir("tbuild-lcache-"), "cache");
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "COPY src/ /src/\n", "src/a.txt": "a", "src/b.txt": "b" });
    const exported = await tbuild(["build", "--root", freshRoot(), "--cache-to", `type=local,dest=${dir}`, ctx]);
    expect(exported.code).toBe(0);
    writeFileSync(path.join(ctx, "src", "a.txt"), "A");
    const fresh = await tbuild(["build", "--root", freshRoot(), "--explain-cache", "--cache-from", `type=local,src=${dir}`, ctx]);
    expect(fresh.code).toBe(0);
    expect(fresh.stderr.match(/#\d+ CACHED/g)).toHaveLength(2);
    expect(fresh.stderr).toMatch(/#\d+ MISS files changed: src\/a\.txt\n/);
  });
});
