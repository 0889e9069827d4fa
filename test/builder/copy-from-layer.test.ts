import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/image-store.js";
import { chownTree, rootlessEnv } from "../setup/rootless.js";
import { buildCollecting, context, freshRoot, instructionSteps, skopeoInspect } from "./helpers.js";

/**
 * COPY --from of a directory that the source stage's top layer holds alone is made from
 * that layer's tar (layer-subtree.ts); any other source is unpacked and walked. Both must
 * give the same layers, byte for byte.
 */
const DOCKERFILE = `FROM scratch AS ctx
COPY src/ /data/
FROM ctx AS ctx2
COPY marker /marker
FROM scratch AS whole
WORKDIR /app
COPY --from=ctx /data/ /app/x/
COPY --from=ctx --chown=7:8 --chmod=750 /data /app/y
FROM scratch AS walked
WORKDIR /app
COPY --from=ctx2 /data/ /app/x/
COPY --from=ctx2 --chown=7:8 --chmod=750 /data /app/y
`;

function sourceContext(parent?: string): string {
  // "sub-x.txt" sorts before "sub/" by bytes but after it in a directory walk.
  const ctx = context({ Dockerfile: DOCKERFILE, marker: "m", "src/a.txt": "a", "src/run.sh": "#!/bin/sh\n", "src/sub/b.txt": "b", "src/sub-x.txt": "x" }, parent);
  chmodSync(path.join(ctx, "src/run.sh"), 0o755);
  symlinkSync("a.txt", path.join(ctx, "src/link"));
  mkdirSync(path.join(ctx, "src/sub/empty"));
  return ctx;
}

describe("COPY --from of a directory a layer holds whole", () => {
  for (const snapshotter of ["overlay", "native"] as const) {
    it(`gives the layers unpacking and walking the stage gives (${snapshotter})`, async () => {
      const ctx = sourceContext();
      const root = freshRoot();
      const o = { context: ctx, root, snapshotter, sourceDateEpoch: 1_700_000_000 };
      const whole = await buildCollecting({ ...o, target: "whole", tags: ["whole"] });
      const walked = await buildCollecting({ ...o, target: "walked", tags: ["walked"] });
      expect(whole.result.config.rootfs.diff_ids).toHaveLength(3);
      expect(whole.result.config.rootfs.diff_ids).toEqual(walked.result.config.rootfs.diff_ids);

      const image = await (await openStore(root)).resolve("whole");
      const blob = (i: number) => path.join(root, "blobs", "sha256", image.manifest.layers[i]!.digest.slice("sha256:".length));
      const list = (i: number) => execFileSync("tar", ["-tvzf", blob(i), "--numeric-owner"], { encoding: "utf8" }).trim().split("\n");
      const x = list(1).map((l) => l.split(/\s+/));
      expect(x.map((f) => f[5])).toEqual(["app", "app/x", "app/x/a.txt", "app/x/link", "app/x/run.sh", "app/x/sub", "app/x/sub-x.txt", "app/x/sub/b.txt", "app/x/sub/empty"]);
      expect(x.find((f) => f[5] === "app/x/run.sh")?.[0]).toBe("-rwxr-xr-x");
      expect(x.find((f) => f[5] === "app/x/link")?.slice(0, 2)).toEqual(["lrwxrwxrwx", "0/0"]);
      const y = list(2).map((l) => l.split(/\s+/));
      expect(y.find((f) => f[5] === "app/y/sub/b.txt")?.slice(0, 2)).toEqual(["-rwxr-x---", "7/8"]);
      expect(y.find((f) => f[5] === "app/y/sub")?.slice(0, 2)).toEqual(["drwxr-x---", "7/8"]);
    });
  }

  it("stays cached on a rebuild, and copies again when a file of the directory changes", async () => {
    const ctx = sourceContext();
    const root = freshRoot();
    const o = { context: ctx, root, target: "whole", sourceDateEpoch: 1_700_000_000 };
    const first = await buildCollecting(o);
    const again = await buildCollecting(o);
    expect(again.result.descriptor.digest).toBe(first.result.descriptor.digest);
    execFileSync("sh", ["-c", `echo changed > ${path.join(ctx, "src/sub/b.txt")}`]);
    const changed = await buildCollecting(o);
    expect(changed.result.config.rootfs.diff_ids[1]).not.toBe(first.result.config.rootfs.diff_ids[1]);
    const image = await (await openStore(root)).resolve(changed.result.descriptor.digest);
    const blob = path.join(root, "blobs", "sha256", image.manifest.layers[1]!.digest.slice("sha256:".length));
    expect(execFileSync("tar", ["-xOzf", blob, "app/x/sub/b.txt"], { encoding: "utf8" })).toBe("changed\n");
  });

  it("stays cached when the source stage is rebuilt with the same directory (its key is found again in the pass that writes the layer)", async () => {
    const dockerfile = "FROM scratch AS src\nCOPY other /other\nCOPY src/ /data/\nFROM scratch\nCOPY --from=src /data/ /app/\n";
    const ctx = context({ Dockerfile: dockerfile, other: "1", "src/a.txt": "a", "src/sub/b.txt": "b" });
    const root = freshRoot();
    const o = { context: ctx, root, sourceDateEpoch: 1_700_000_000 };
    const first = await buildCollecting(o);
    execFileSync("sh", ["-c", `echo 2 > ${path.join(ctx, "other")}`]);
    const again = await buildCollecting(o);
    // COPY src/ runs again on its new parent: the source chain is new (no remembered tree
    // digest), its /data layer the same, so the COPY --from is cached.
    expect(instructionSteps(again.events).map((s) => s.cached)).toEqual([false, false, true]);
    expect(again.result.config.rootfs.diff_ids).toEqual(first.result.config.rootfs.diff_ids);
  });

  const env = rootlessEnv();
  it.skipIf(env === undefined)("gives the same layers as a normal user (subordinate ids)", async () => {
    const work = env!.workDir();
    const ctx = sourceContext(work);
    chownTree(ctx, env!.uid, env!.gid);
    const root = path.join(work, "store");
    const layers = async (target: string): Promise<string[]> => {
      const r = await env!.run("env", ["SOURCE_DATE_EPOCH=1700000000", process.execPath, path.join(env!.app, "dist/cli/main.js"), "build", "-q", "--root", root, "--target", target, "-t", target, ctx]);
      expect(r.status, r.stderr).toBe(0);
      return (await skopeoInspect(`oci:${root}:docker.io/library/${target}:latest`)).Layers;
    };
    const whole = await layers("whole");
    expect(whole).toHaveLength(3);
    expect(whole).toEqual(await layers("walked"));
  });
});
