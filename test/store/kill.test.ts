/**
 * SIGKILL at random points: builds, pulls and prunes on one root are killed midway, over
 * and over. Afterwards one `tbuild prune` must leave nothing unreclaimable behind
 * (no snapshots, scratch directories, partial downloads, leases or locks), `tbuild fsck`
 * must find the store sound, and a rebuild must give a correct image.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context } from "../builder/helpers.js";
import { MODES, type Mode } from "../builder/modes.js";
import { registryForFile } from "../setup/registry-per-file.js";
import { chownTree, rootlessEnv, TEST_USER } from "../setup/rootless.js";
import { spawnAsync } from "../setup/spawn.js";

const cli = join(import.meta.dirname, "..", "..", "dist", "cli", "main.js");

type Result = { code: number | null; stdout: string; stderr: string };

/**
 * Runs the CLI as root or as the test user; with `kill`, SIGKILLs it `delayMs` after `marker`
 * shows in its output (or after it starts). As the test user it runs through setpriv, which
 * execs (runuser would stay in between as the parent and take the SIGKILL itself).
 */
function runner(mode: Mode): { args(args: string[]): string[]; dir(prefix: string): string; tbuild(args: string[], kill?: { marker?: string; delayMs: number }): Promise<Result> } {
  const user = mode === "rootless" ? rootlessEnv()! : undefined;
  const args = (a: string[]): string[] =>
    user === undefined
      ? [process.execPath, cli, ...a]
      : ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "env", `HOME=/home/${TEST_USER}`, process.execPath, join(user.app, "dist/cli/main.js"), ...a];
  const dir = (prefix: string): string => (user === undefined ? mkdtempSync(join(tmpdir(), prefix)) : user.workDir());
  const tbuild = (a: string[], kill?: { marker?: string; delayMs: number }): Promise<Result> =>
    new Promise((resolve) => {
      const [cmd, ...rest] = args(a);
      const p = spawn(cmd!, rest, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
      let stdout = "";
      let stderr = "";
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (kill !== undefined && timer === undefined && (kill.marker === undefined || (stdout + stderr).includes(kill.marker))) timer = setTimeout(() => p.kill("SIGKILL"), kill.delayMs);
      };
      p.stdout.on("data", (d: Buffer) => ((stdout += d.toString()), arm()));
      p.stderr.on("data", (d: Buffer) => ((stderr += d.toString()), arm()));
      arm();
      p.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  return { args, dir, tbuild };
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const registry = registryForFile();

describe.each(MODES)("kills (%s)", (mode) => {
  it("after builds, pulls and prunes killed at random points, one prune leaves nothing unreclaimable, fsck is clean and a rebuild is right", async () => {
    const base = `${registry.host}/kill/base:1`;
    const pushed = await runner("root").tbuild(["build", "--root", mkdtempSync(join(tmpdir(), "tbuild-kb-")), "--push", "-q", "-t", base, context({ Dockerfile: `${BUSYBOX_BASE}RUN head -c 2000000 /dev/urandom > /base-data\n` })]);
    expect(pushed.stderr).not.toContain("tbuild:");
    const { args, dir, tbuild } = runner(mode);
    const root = join(dir("tbuild-kill-"), "store");
    const ctxParent = dir("tbuild-kctx-");
    const ctx = context({ Dockerfile: `FROM ${base}\nARG N\nRUN head -c 3000000 /dev/urandom > /big && echo "$N" > /n\nCOPY busybox /copied\n` }, ctxParent);
    if (mode === "rootless") chownTree(ctxParent, rootlessEnv()!.uid, rootlessEnv()!.gid);
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    // One whole build first, so later ones reuse (and get killed while reusing) its layers and snapshots.
    const whole = await tbuild(["build", "--root", root, "-q", "-t", "app:first", "--build-arg", "N=first", ctx]);
    expect(whole.stderr).not.toContain("tbuild:");
    let killed = 0;
    // Kill points within a second: on an idle machine a pull, a prune or the rest of a build
    // after its RUN is over in about that time, and most jobs must be caught mid-way.
    for (let round = 0; round < 10; round++) {
      const jobs: Promise<{ code: number | null }>[] = [];
      const kinds = [random(3), random(3)];
      for (const kind of kinds) {
        if (kind === 0) {
          // Killed somewhere in or after its RUN step (writing the tree, diffing, storing the layer).
          jobs.push(tbuild(["build", "--root", root, "--progress", "plain", "-t", `app:${round}`, "--build-arg", `N=${round}`, ctx], { marker: "RUN head", delayMs: random(600) }));
        } else if (kind === 1) {
          const [cmd, ...rest] = args(["rmi", "--root", root, base]);
          // Synchronous on purpose (a short rmi): the kill points of the jobs already started
          // were chosen with this pause in the event loop; awaited, far fewer kills leave
          // anything behind (3 runs of 4 then failed the fsck check below).
          spawnSync(cmd!, rest, { cwd: "/" });
          jobs.push(tbuild(["pull", "--root", root, base], { delayMs: 50 + random(500) }));
        } else jobs.push(tbuild(["prune", "--all", "--root", root], { delayMs: 50 + random(500) }));
      }
      for (const r of await Promise.all(jobs)) if (r.code === null) killed++;
    }
    expect(killed).toBeGreaterThan(5);
    // The kills left something for prune to find (fsck names it), or the test proves nothing.
    const left = await tbuild(["fsck", "--root", root]);
    expect(left.code).toBe(1);
    expect(left.stdout).toMatch(/^problem: .* left by a process that is gone$/m);

    const pruned = await tbuild(["prune", "--root", root]);
    expect(pruned.stderr).toBe("");
    const du = await tbuild(["du", "--root", root]);
    expect(du.stdout).toMatch(/^snapshots\s+0\s+0B\s+0B$/m);
    for (const dir of ["tmp", "ingest", "leases", "snapshotter/tmp", "snapshotter/snapshots"]) {
      expect(entries(join(root, dir))).toEqual([]);
    }
    const locks = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith(".lock") || f.endsWith(".stale") || f.endsWith(".tmp"));
    expect(locks).toEqual([]);

    const fsck = await tbuild(["fsck", "--root", root]);
    expect(fsck.stderr).toBe("");
    expect(fsck.stdout).toContain("the store is sound");
    expect(fsck.code).toBe(0);

    const rebuilt = await tbuild(["build", "--root", root, "-t", "app:final", "--build-arg", "N=final", ctx]);
    expect(rebuilt.stderr).not.toContain("tbuild:");
    expect(rebuilt.code).toBe(0);
    const bundle = join(mkdtempSync(join(tmpdir(), "tbuild-kb-")), "b");
    const unpack = await spawnAsync("umoci", ["unpack", "--image", `${root}:docker.io/library/app:final`, bundle]);
    expect(unpack.status).toBe(0);
    expect(readFileSync(join(bundle, "rootfs", "n"), "utf8")).toBe("final\n");
    expect(readFileSync(join(bundle, "rootfs", "base-data")).length).toBe(2_000_000);
    expect((await tbuild(["fsck", "--root", root])).code).toBe(0);
  }, 900_000);
});
