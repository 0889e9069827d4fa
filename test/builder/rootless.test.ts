import { chownSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { rootlessEnv } from "../setup/rootless.js";
import { BUSYBOX_BASE, context, skopeoInspect, umociUnpack } from "./helpers.js";

const env = rootlessEnv();

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (lstatSync(p).isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

describe.skipIf(env === undefined)("tbuild build as a non-root user", () => {
  it("runs RUN steps in a user namespace, with image uids kept in the layers", () => {
    const work = env!.workDir();
    const ctx = context(
      {
        Dockerfile:
          BUSYBOX_BASE +
          'RUN mkdir -p /etc /home/app && echo "root:x:0:0::/root:/bin/sh" > /etc/passwd && echo "app:x:999:999::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:999:" > /etc/group && chown app:app /home/app\n' +
          "USER app\nWORKDIR /home/app\nRUN id -u > uid && touch made-by-app\nCOPY --chown=app:app note.txt /home/app/\n",
        "note.txt": "n",
      },
      work,
    );
    chownTree(ctx, env!.uid, env!.gid);
    const root = path.join(work, "store");
    const r = env!.run(process.execPath, [path.join(env!.app, "dist/cli/main.js"), "build", "--root", root, "-t", "rootless", ctx]);
    expect(r.stderr).toContain("built ");
    expect(r.status).toBe(0);

    const name = "docker.io/library/rootless:latest";
    expect(skopeoInspect(`oci:${root}:${name}`).Digest).toBe(r.stdout.trim());
    const rootfs = umociUnpack(root, name);
    expect(readFileSync(path.join(rootfs, "home/app/uid"), "utf8")).toBe("999\n");
    for (const f of ["uid", "made-by-app", "note.txt"]) {
      const st = lstatSync(path.join(rootfs, "home/app", f));
      expect([st.uid, st.gid]).toEqual([999, 999]);
    }
    expect(lstatSync(path.join(rootfs, "bin/busybox")).uid).toBe(0);
  });
});
