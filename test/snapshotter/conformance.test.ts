/**
 * One suite, run against both drivers: the snapshot lifecycle rules, applying layers,
 * and diffs. The two drivers must produce byte-identical layers for the same edits,
 * and applying a diff onto its parent must reproduce the edited tree.
 */
import { Readable } from "node:stream";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalContentStore } from "../../src/content/local.js";
import { isTbuildError } from "../../src/errors.js";
import { openSnapshotter, overlaySupported, type Driver, type Snapshotter } from "../../src/snapshotter/index.js";
import { listing, runStep, tarOf, tmp } from "./helpers.js";
import { rmSync } from "node:fs";

const work = tmp();
afterAll(() => rmSync(work, { recursive: true, force: true }));
const overlayOk = await overlaySupported(join(work, "probe"));

const base = await tarOf([
  { name: "etc", type: "directory" },
  { name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
  { name: "etc/gone", body: "delete me\n" },
  { name: "etc/shadow", body: "secret\n", mode: 0o000 },
  { name: "etc/alt", type: "symlink", linkname: "../usr/bin/tool" },
  { name: "usr", type: "directory" },
  { name: "usr/bin", type: "directory" },
  { name: "usr/bin/tool", body: "#!/bin/sh\n", mode: 0o755 },
  { name: "usr/bin/tool-hardlink", type: "link", linkname: "usr/bin/tool" },
  { name: "usr/bin/su", body: "su\n", mode: 0o755 },
  { name: "var", type: "directory" },
  { name: "var/cache", type: "directory" },
  { name: "var/cache/a", body: "a\n", uid: 999, gid: 999 },
  { name: "var/cache/b", body: "b\n" },
  { name: "var/lib", type: "directory" },
  { name: "var/lib/x", body: "x\n" },
  { name: "var/lib/y", body: "y\n" },
  { name: "srv", type: "directory" },
  { name: "srv/dir-to-file", type: "directory" },
  { name: "srv/dir-to-file/inner", body: "i\n" },
  { name: "srv/file-to-dir", body: "f\n" },
  { name: "home", type: "directory" },
  { name: "home/www", type: "directory", uid: 33, gid: 33, mode: 0o750 },
  { name: "home/www/index.html", body: "<p>hi</p>\n", uid: 33, gid: 33 },
  { name: "home/www/tagged", body: "t\n", pax: { "SCHILY.xattr.user.origin": "base" } },
]);

const longName = "d".repeat(60) + "/" + "n".repeat(90);
const EDITS = [
  "echo changed >> etc/passwd",
  "rm etc/gone",
  "rm -rf var/cache && mkdir var/cache && echo new > var/cache/c && chown 999:999 var/cache/c", // opaque replacement
  "rm var/lib/x var/lib/y", // every child deleted one by one: also opaque in canonical form
  "rm -rf srv/dir-to-file && echo now-a-file > srv/dir-to-file",
  "rm srv/file-to-dir && mkdir srv/file-to-dir && echo inside > srv/file-to-dir/f",
  // (Not on usr/bin/tool: overlayfs copy-up splits a lower hard link, so there the drivers rightly differ.)
  "ln etc/passwd etc/passwd.link",
  "chmod 4755 usr/bin/su",
  "ln -s /etc/passwd home/abs-link",
  "setfattr -n user.note -v hello home/www/index.html",
  `mkdir -p ${longName.split("/")[0]} && echo long > ${longName}`,
  "mkfifo home/fifo",
].join(" && ");

async function layered(driver: Driver, name: string): Promise<Snapshotter> {
  const sn = await openSnapshotter({ root: join(work, name), driver });
  await sn.prepare("extract");
  await sn.apply("extract", Readable.from([base]), { layer: "base" });
  await sn.commit("base", "extract");
  return sn;
}

const drivers: Driver[] = overlayOk ? ["overlay", "native"] : ["native"];

// In-process application with arbitrary owners needs root; rootless.test.ts covers a normal user.
describe.skipIf(process.geteuid?.() !== 0).each(drivers)("%s snapshotter", (driver) => {
  it("follows the lifecycle rules: only committed parents, commits of active snapshots, no removal under children", async () => {
    const sn = await openSnapshotter({ root: join(work, `${driver}-life`), driver });
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
    if (driver === "overlay") {
      expect(child[0]!.type).toBe("overlay");
      expect(child[0]!.options.some((o) => o.startsWith("upperdir="))).toBe(true);
    }
    await expect(sn.remove("layer1")).rejects.toThrow(/'c', 'v' are based on it/);
    await sn.remove("c");
    await sn.remove("v");
    await sn.remove("layer1");
    expect(await sn.walk()).toEqual([]);
  });

  it("applies a layer with owners, modes, links and xattrs, reported by usage", async () => {
    const sn = await layered(driver, `${driver}-apply`);
    const fs = join(sn.root, "snapshots", "1", "fs");
    const lines = listing(fs);
    expect(lines).toContainEqual(expect.stringMatching(/^home\/www d 750 33:33/));
    expect(lines).toContainEqual(expect.stringMatching(/^etc\/shadow f:\w+ 0 0:0/));
    expect(lines).toContainEqual(expect.stringMatching(/^usr\/bin\/tool-hardlink f:\w+ 755 0:0 n=2/));
    expect(lines).toContainEqual(expect.stringMatching(/^etc\/alt l->\.\.\/usr\/bin\/tool /));
    expect((await sn.usage("base")).inodes).toBeGreaterThan(20);
  });
});

describe.skipIf(!overlayOk || process.geteuid?.() !== 0)("overlay and native", () => {
  it("produce byte-identical layers for the same edits (deletes, opaque replacements, type changes, links, xattrs)", async () => {
    const store = new LocalContentStore(join(work, "cs-identical"));
    const digests: Record<string, string> = {};
    for (const driver of drivers) {
      const sn = await layered(driver, `${driver}-ident`);
      runStep(await sn.prepare("step", "base"), EDITS);
      const layer = await sn.diff("step", store, { sourceDateEpoch: 1_700_000_000, compression: "none" });
      digests[driver] = layer.digest;
    }
    expect(digests["overlay"]).toBe(digests["native"]);
  });
});

describe.skipIf(process.geteuid?.() !== 0).each(drivers)("%s diff", (driver) => {
  it("round-trips: applying diff(x) onto the parent gives x", async () => {
    const store = new LocalContentStore(join(work, `cs-rt-${driver}`));
    const sn = await layered(driver, `${driver}-rt`);
    runStep(await sn.prepare("step", "base"), EDITS);
    const layer = await sn.diff("step", store);
    // x as a whole tree: a native snapshot's own fs, or for overlay the same edits made in a native snapshot.
    const ref = driver === "native" ? sn : await layered("native", `${driver}-rt-ref`);
    if (ref !== sn) runStep(await ref.prepare("step", "base"), EDITS);
    const check = await layered("native", `${driver}-rt-check`);
    await check.prepare("apply", "base");
    const res = await check.apply("apply", store.openRead(layer.digest), { layer: layer.digest });
    expect(res.diffID).toBe(layer.diffID);
    // The reference ran its edits at another moment, so for overlay times are compared in the native run only.
    const opts = { dirMtimes: driver === "native", mtimes: driver === "native" };
    const want = listing(join(ref.root, "snapshots", "2", "fs"), opts);
    const got = listing(join(check.root, "snapshots", "2", "fs"), opts);
    expect(got).toEqual(want);
    expect(readFileSync(join(check.root, "snapshots", "2", "fs", longName), "utf8")).toBe("long\n");
  });
});
