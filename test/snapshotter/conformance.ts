/**
 * What every snapshotter driver promises, as suite functions any driver (and any future
 * one) runs: `snapshotterConformance(driver, open, withBase)` for the lifecycle rules and
 * layer application, `layerSequenceConformance(mode)` for layer sequences every driver
 * must refuse or accept alike (layer-sequences.ts), as root and as the rootless user.
 */
import { spawn } from "node:child_process";
import { chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { isTbuildError } from "../../src/errors.js";
import type { Snapshotter } from "../../src/snapshotter/index.js";
import type { Mode } from "../builder/modes.js";
import { rootlessEnv, TEST_USER } from "../setup/rootless.js";
import { listing, tarOf } from "./helpers.js";
import { ESCAPED, LAYER_SEQUENCES, sequencesJson } from "./layer-sequences.js";

/** `open(name)`: a fresh snapshotter of the driver; `withBase(sn)`: `sn` with the shared base layer committed as "base". */
export function snapshotterConformance(driver: string, open: (name: string) => Promise<Snapshotter>, withBase: (sn: Snapshotter) => Promise<Snapshotter>): void {
  it("follows the lifecycle rules: only committed parents, commits of active snapshots, no removal under children", async () => {
    const sn = await open("life");
    expect(sn.driver).toBe(driver);
    const m = await sn.prepare("a");
    expect(m).toEqual([{ type: "bind", source: expect.stringMatching(/snapshots\/1\/fs$/), options: ["rw", "rbind"] }]);
    await expect(sn.prepare("b", "a")).rejects.toThrow(/only committed snapshots can be parents/);
    await expect(sn.prepare("a")).rejects.toSatisfy((e) => isTbuildError(e, "already-exists"));
    await sn.commit("layer1", "a");
    await expect(sn.stat("a")).rejects.toSatisfy((e) => isTbuildError(e, "not-found"));
    expect((await sn.stat("layer1")).kind).toBe("committed");
    await sn.view("v", "layer1");
    await expect(sn.commit("x", "v")).rejects.toThrow(/view; only active snapshots can be committed/);
    const child = await sn.prepare("c", "layer1");
    // Whatever the mounts, the tree they show is readable without mounting, and writable where prepare said.
    expect(await sn.tree(child).isDirectory("/")).toBe(true);
    expect(sn.writableDir(child)).toMatch(/snapshots\/\d+\/fs$/);
    await expect(sn.remove("layer1")).rejects.toThrow(/'c', 'v' are based on it/);
    await sn.remove("c");
    await sn.remove("v");
    await sn.remove("layer1");
    expect(await sn.walk()).toEqual([]);
  });

  it("applies a layer with owners, modes, links and xattrs, reported by usage", async () => {
    const sn = await withBase(await open("apply"));
    const fs = join(sn.root, "snapshots", "1", "fs");
    const lines = listing(fs);
    expect(lines).toContainEqual(expect.stringMatching(/^home\/www d 750 33:33/));
    expect(lines).toContainEqual(expect.stringMatching(/^etc\/shadow f:\w+ 0 0:0/));
    expect(lines).toContainEqual(expect.stringMatching(/^usr\/bin\/tool-hardlink f:\w+ 755 0:0 n=2/));
    expect(lines).toContainEqual(expect.stringMatching(/^etc\/alt l->\.\.\/usr\/bin\/tool /));
    expect((await sn.usage("base")).inodes).toBeGreaterThan(20);
  });

  it("unpacks a layer straight into a committed snapshot; a layer that fails leaves no record and no tree", async () => {
    const sn = await withBase(await open("unpack"));
    const layer = await tarOf([{ name: "etc", type: "directory" }, { name: "etc/motd", body: "hi\n" }, { name: "etc/.wh.shadow", body: "" }]);
    await sn.unpack("top", "base", Readable.from([layer]), { layer: "top" });
    expect((await sn.walk()).map((s) => [s.key, s.kind, s.parent])).toEqual([
      ["base", "committed", undefined],
      ["top", "committed", "base"],
    ]);
    const tree = await sn.committedTree("top");
    expect(await tree.lookup("/etc/motd")).toBeDefined();
    expect(await tree.lookup("/etc/shadow")).toBeUndefined();
    expect(await tree.lookup("/etc/passwd")).toBeDefined();
    const cut = new Readable({ read() { this.destroy(new Error("connection cut")); } });
    await expect(sn.unpack("broken", "top", cut, { layer: "broken" })).rejects.toThrow();
    await expect(sn.stat("broken")).rejects.toSatisfy((e) => isTbuildError(e, "not-found"));
    expect(readdirSync(join(sn.root, "snapshots")).sort()).toEqual(["1", "2"]);
    expect(readdirSync(join(sn.root, "tmp")).filter((n) => n.startsWith("new-"))).toEqual([]);
  });
}

type Outcome = { tree: string[] } | { error: string };

/** Runs a command with `input`; asynchronous, as a synchronous spawn would stall vitest's worker. */
function run(argv: string[], input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], cwd: "/" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Applies every sequence with every driver this machine has, in `mode`, through the compiled code. */
async function applySequences(mode: Mode, input: string): Promise<Record<string, Record<string, Outcome>>> {
  const fixture = join(import.meta.dirname, "fixtures", "apply-sequence.mjs");
  let r;
  if (mode === "root") {
    const work = mkdtempSync(join(tmpdir(), "tbuild-seq-"));
    try {
      r = await run([process.execPath, fixture, join(import.meta.dirname, "..", ".."), work], input);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } else {
    const env = rootlessEnv()!;
    const copy = join(env.app, "apply-sequence.mjs");
    copyFileSync(fixture, copy);
    chownSync(copy, env.uid, env.gid);
    r = await run(["runuser", "-u", TEST_USER, "--", "env", `HOME=/home/${TEST_USER}`, process.execPath, copy, env.app, env.workDir()], input);
  }
  if (r.status !== 0) throw new Error(`apply-sequence.mjs (${mode}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, Record<string, Outcome>>;
}

export function layerSequenceConformance(mode: Mode): void {
  let results: Record<string, Record<string, Outcome>> = {};
  beforeAll(async () => {
    results = await applySequences(mode, await sequencesJson());
  }, 300_000);
  afterAll(() => {
    results = {};
  });

  it.each(LAYER_SEQUENCES)("$name", (seq) => {
    const drivers = Object.keys(results);
    expect(drivers.length).toBeGreaterThan(0);
    for (const driver of drivers) {
      const got = results[driver]![seq.name];
      if ("refused" in seq.expect) expect(got, driver).toEqual({ error: expect.stringMatching(seq.expect.refused) });
      else expect(got, driver).toEqual({ tree: seq.expect.tree });
    }
  });

  it("wrote nothing outside the roots, whatever a layer's symlinks said", () => {
    expect(existsSync(`/${ESCAPED}`)).toBe(false);
  });
}

