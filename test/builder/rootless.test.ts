import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chownTree, rootlessEnv } from "../setup/rootless.js";
import { spawnAsync } from "../setup/spawn.js";
import { BUSYBOX_BASE, context, skopeoInspect, umociUnpack } from "./helpers.js";

const env = rootlessEnv();

describe.skipIf(env === undefined)("tbuild build as a non-root user", () => {
  it("runs RUN steps in a user namespace, with image uids kept in the layers", async () => {
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
    const r = await env!.run(process.execPath, [path.join(env!.app, "dist/cli/main.js"), "build", "--root", root, "-t", "rootless", ctx]);
    expect(r.stderr).toContain("built ");
    expect(r.status).toBe(0);

    const name = "docker.io/library/rootless:latest";
    expect((await skopeoInspect(`oci:${root}:${name}`)).Digest).toBe(r.stdout.trim());
    const rootfs = await umociUnpack(root, name);
    expect(readFileSync(path.join(rootfs, "home/app/uid"), "utf8")).toBe("999\n");
    for (const f of ["uid", "made-by-app", "note.txt"]) {
      const st = lstatSync(path.join(rootfs, "home/app", f));
      expect([st.uid, st.gid]).toEqual([999, 999]);
    }
    expect(lstatSync(path.join(rootfs, "bin/busybox")).uid).toBe(0);
  });

  it("tells a user without a subordinate id range what to fix, without a stack trace", async () => {
    const user = "tbuildnosub";
    if (spawnSync("id", ["-u", user]).status !== 0) execFileSync("useradd", ["--create-home", user]);
    // useradd may hand out a range by itself (SUB_UID_COUNT): this user must have none.
    for (const f of ["/etc/subuid", "/etc/subgid"]) writeFileSync(f, readFileSync(f, "utf8").split("\n").filter((l) => !l.startsWith(`${user}:`)).join("\n"));
    const work = env!.workDir();
    const ctx = context({ Dockerfile: BUSYBOX_BASE }, work);
    execFileSync("chmod", ["-R", "a+rX", work]);
    const r = await spawnAsync("runuser", ["-u", user, "--", "env", "HOME=/tmp", process.execPath, path.join(env!.app, "dist/cli/main.js"), "build", "--root", path.join("/tmp", `tbuild-nosub-${process.pid}`), ctx], { cwd: "/" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no subordinate id range for this user/);
    expect(r.stderr).toMatch(/hint: add a range to \/etc\/subuid/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses an ADD archive that climbs out of its destination (the layer does not just end early)", async () => {
    const work = env!.workDir();
    const ctx = context({ Dockerfile: "FROM scratch\nADD evil.tar /x/\n", "f": "x" }, work);
    execFileSync("tar", ["-cf", path.join(ctx, "evil.tar"), "--absolute-names", `../${path.basename(ctx)}/f`], { cwd: ctx });
    chownTree(work, env!.uid, env!.gid);
    const r = await env!.run(process.execPath, [path.join(env!.app, "dist/cli/main.js"), "build", "--root", path.join(work, "store"), ctx]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ADD evil\.tar: entry '\.\.\/.*' points outside the destination/);
  });
});

