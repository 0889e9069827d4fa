/**
 * Layer blobs: the same tar in gzip, zstd or plain has one diffID, each blob's digest
 * matches its bytes, applying sniffs the compression, and `tbuild import` turns a
 * rootfs tarball into an image skopeo can read.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { LocalContentStore } from "../../src/content/local.js";
import { applyLayer, storeLayer } from "../../src/snapshotter/index.js";
import { spawnAsync } from "../setup/spawn.js";
import { listing, tarOf, tmp } from "./helpers.js";

const work = tmp("tbuild-differ-");
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(process.geteuid?.() !== 0)("storing layers", () => {
  it("gives gzip, zstd and plain blobs of one tar the same diffID, and apply reads each back", async () => {
    const tarBytes = await tarOf([{ name: "etc", type: "directory" }, { name: "etc/hostname", body: "box\n" }, { name: "big", body: "z".repeat(3_000_000) }]);
    const diffID = `sha256:${createHash("sha256").update(tarBytes).digest("hex")}`;
    const store = new LocalContentStore(join(work, "cs"));
    const listings: string[][] = [];
    for (const c of ["gzip", "zstd", "none"] as const) {
      const layer = await storeLayer(Readable.from([tarBytes]), store, c);
      expect(layer.diffID).toBe(diffID);
      expect(layer.mediaType).toBe({ gzip: "application/vnd.oci.image.layer.v1.tar+gzip", zstd: "application/vnd.oci.image.layer.v1.tar+zstd", none: "application/vnd.oci.image.layer.v1.tar" }[c]);
      const blob = readFileSync(store.blobPath(layer.digest));
      expect(`sha256:${createHash("sha256").update(blob).digest("hex")}`).toBe(layer.digest);
      expect(layer.size).toBe(blob.length);
      const target = join(work, `apply-${c}`);
      const res = await applyLayer(target, store.openRead(layer.digest), { layer: c, whiteouts: "remove" });
      expect(res.diffID).toBe(diffID);
      listings.push(listing(target));
    }
    expect(listings[1]).toEqual(listings[0]);
    expect(listings[2]).toEqual(listings[0]);
  });
});

describe("tbuild import", () => {
  const main = resolve(import.meta.dirname, "../../dist/cli/main.js");
  it("makes a one-layer image from a gzipped rootfs tarball", async () => {
    const rootfs = join(work, "rootfs.tar");
    writeFileSync(rootfs, await tarOf([{ name: "bin", type: "directory" }, { name: "bin/hello", body: "#!/bin/sh\necho hi\n", mode: 0o755 }]));
    spawnSync("gzip", ["-k", rootfs]);
    const root = join(work, "store");
    const r = await spawnAsync(process.execPath, [main, "import", "--root", root, `${rootfs}.gz`, "hello:imported"], { env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const inspect = await spawnAsync("skopeo", ["inspect", `oci:${root}:docker.io/library/hello:imported`]);
    expect(inspect.status).toBe(0);
    const info = JSON.parse(inspect.stdout) as { Layers: string[]; Created: string };
    expect(info.Layers).toHaveLength(1);
    expect(info.Created).toBe("2023-11-14T22:13:20Z");
  });

  it("says which file is missing instead of failing with an errno", async () => {
    const r = await spawnAsync(process.execPath, [main, "import", "--root", join(work, "store2"), join(work, "nope.tar"), "x"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^tbuild: import: .*nope\.tar does not exist\n$/);
  });
});
