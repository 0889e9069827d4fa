/** The README's store-command flags not covered elsewhere, through the CLI. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/image-store.js";
import { BUSYBOX_BASE, context } from "../builder/helpers.js";
import { spawnAsync } from "../setup/spawn.js";
import { makeImage, tempDir } from "../store/helpers.js";
import { tbuild } from "./helpers.js";

describe("store commands", () => {
  it("save writes an OCI archive by default, which load reads back with its digest", async () => {
    const a = await tempDir();
    const desc = await makeImage(await openStore(a), "demo:oci", [{ f: "x" }]);
    const file = path.join(await tempDir(), "demo.tar");
    expect((await tbuild(["save", "--root", a, "demo:oci", "-o", file])).code).toBe(0);
    const inspected = JSON.parse((await spawnAsync("skopeo", ["inspect", `oci-archive:${file}`])).stdout) as { Digest: string };
    expect(inspected.Digest).toBe(desc.digest);
    const b = await tempDir();
    expect((await tbuild(["load", "--root", b, "-i", file])).stdout).toBe("Loaded image: demo:oci\n");
    expect((await tbuild(["images", "--root", b, "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"])).stdout).toBe(`demo:oci ${desc.digest}\n`);
  }, 300_000);

  it("prune --dry-run lists what it would delete and deletes nothing", async () => {
    const root = await tempDir();
    const store = await openStore(root);
    await makeImage(store, "keep", [{ shared: "s" }]);
    await makeImage(store, "drop", [{ shared: "s" }, { own: "o" }]);
    await makeImage(store, "drop:2", [{ own: "o" }]);
    // rmi takes several names.
    expect((await tbuild(["rmi", "--root", root, "drop", "drop:2"])).stdout).toBe("Untagged: drop:latest\nUntagged: drop:2\n");
    const before = (await tbuild(["du", "--root", root])).stdout;
    const dry = await tbuild(["prune", "--root", root, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout.match(/^Would delete: sha256:[0-9a-f]{64}$/gm)).toHaveLength(5);
    expect(dry.stdout).not.toMatch(/^Deleted/m);
    expect((await tbuild(["du", "--root", root])).stdout).toBe(before);
    const real = await tbuild(["prune", "--root", root]);
    expect(real.stdout.match(/^Deleted: sha256:[0-9a-f]{64}$/gm)).toHaveLength(5);
    expect((await tbuild(["du", "--root", root])).stdout).toMatch(/^unreferenced\s+0\s/m);
  }, 300_000);
  it("a relative --root works for builds with RUN steps (helpers that chdir elsewhere get it absolute)", async () => {
    const work = await tempDir();
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN echo ran > /ran\n` }, work);
    const r = await tbuild(["build", "--root", "store", "-q", "-t", "rel:1", path.basename(ctx)], { cwd: work });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const listed = await tbuild(["images", "--root", path.join(work, "store"), "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(listed.stdout).toBe("rel:1\n");
  }, 300_000);
});
