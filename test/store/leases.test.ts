/**
 * Leases against a real race: builds that reuse cached steps and base layers while
 * `tbuild prune --all` runs in a loop on the same root. Every build must succeed and
 * give a complete image (before leases, a build that had decided to reuse a cached
 * layer failed at the end with "layer … is not in store").
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context } from "../builder/helpers.js";
import { spawnAsync } from "../setup/spawn.js";

const cli = join(import.meta.dirname, "..", "..", "dist", "cli", "main.js");

function tbuild(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (code) => resolve({ code: code ?? -1, stderr }));
  });
}

describe("leases", () => {
  it("builds that reuse cached layers all succeed while prune --all runs in a loop", async () => {
    const root = mkdtempSync(join(tmpdir(), "tbuild-lease-"));
    const ctx = context({
      Dockerfile: `${BUSYBOX_BASE}RUN head -c 300000 /bin/busybox > /cached-step\nARG X\nRUN echo "$X" > /x && cat /cached-step > /again\n`,
    });
    const first = await tbuild(["build", "--root", root, "-t", "app:0", "--build-arg", "X=0", ctx]);
    expect(first.stderr).not.toContain("tbuild:");
    let pruning = true;
    let prunes = 0;
    const pruneFailures: string[] = [];
    const loop = (async () => {
      while (pruning) {
        const r = await tbuild(["prune", "--all", "--root", root]);
        prunes++;
        if (r.code !== 0) pruneFailures.push(r.stderr);
      }
    })();
    const failures: string[] = [];
    for (let i = 1; i <= 4; i++) {
      // As in the report: drop the previous tag, so only the cache (and the lease) keeps its layers.
      await spawnAsync(process.execPath, [cli, "rmi", "--root", root, `app:${i - 1}`]);
      const both = await Promise.all([tbuild(["build", "--root", root, "-t", `app:${i}`, "--build-arg", `X=${i}`, ctx]), tbuild(["build", "--root", root, "-t", `other:${i}`, "--build-arg", `X=o${i}`, ctx])]);
      for (const r of both) if (r.code !== 0) failures.push(r.stderr);
    }
    pruning = false;
    await loop;
    expect(failures).toEqual([]);
    expect(pruneFailures).toEqual([]);
    expect(prunes).toBeGreaterThan(3);
    // The last image is whole: every blob it names is stored, and its RUN output is right.
    const check = await spawnAsync("umoci", ["unpack", "--image", `${root}:docker.io/library/app:4`, join(mkdtempSync(join(tmpdir(), "tbuild-b-")), "b")]);
    expect(check.stderr).not.toMatch(/error|failed/i);
    expect(check.status).toBe(0);
  }, 600_000);
});
