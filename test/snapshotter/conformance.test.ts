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
import { openSnapshotter, overlaySupported, type Driver, type Snapshotter } from "../../src/snapshotter/index.js";
import { MODES } from "../builder/modes.js";
import { layerSequenceConformance, snapshotterConformance } from "./conformance.js";
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

async function layered(driver: Driver, name: string): Promise<Snapshotter>;
async function layered(sn: Snapshotter): Promise<Snapshotter>;
async function layered(driverOrSn: Driver | Snapshotter, name?: string): Promise<Snapshotter> {
  const sn = typeof driverOrSn === "string" ? await openSnapshotter({ root: join(work, name!), driver: driverOrSn }) : driverOrSn;
  await sn.prepare("extract");
  await sn.apply("extract", Readable.from([base]), { layer: "base" });
  await sn.commit("base", "extract");
  return sn;
}

const drivers: Driver[] = overlayOk ? ["overlay", "native"] : ["native"];

// In-process application with arbitrary owners needs root; rootless.test.ts covers a normal user.
describe.skipIf(process.geteuid?.() !== 0).each(drivers)("%s snapshotter", (driver) => {
  snapshotterConformance(driver, async (name) => openSnapshotter({ root: join(work, `${driver}-${name}`), driver }), (sn) => layered(sn));
});

// Run by the compiled code as root and as the rootless test user, every driver in each mode.
describe.skipIf(process.geteuid?.() !== 0).each(MODES)("layer sequences (%s)", (mode) => {
  layerSequenceConformance(mode);
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
