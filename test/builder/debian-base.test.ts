/**
 * The users' ground: a real Debian base (debootstrap's bookworm, merged /usr, no
 * resolv.conf or hosts, as official images ship) ADDed onto scratch, and apt-get
 * installing a package from Debian's mirror in RUN, as root and as the non-root test
 * user. The result is read back with umoci, a tool nobody here wrote.
 */
import { copyFileSync, lstatSync, readFileSync, readlinkSync, existsSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { debianRootfsTar } from "../setup/debian-base.js";
import { umociUnpack } from "./helpers.js";
import { cliBuild, MODES, workspace } from "./modes.js";

const root = process.geteuid?.() === 0;

const DOCKERFILE = `FROM scratch
ADD debian.tar /
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends hello >/dev/null && rm -rf /var/lib/apt/lists/*
RUN hello > /greeting && getent hosts localhost > /hosts-seen && test -s /etc/resolv.conf
`;

let tar: string;
beforeAll(async () => {
  if (root) tar = await debianRootfsTar();
}, 900_000);

describe.skipIf(!root).each(MODES)("a Debian base with apt-get (%s)", (mode) => {
  it("installs a package from Debian's mirror and keeps merged /usr, image owners, and no resolv.conf or hosts in a layer", async () => {
    const ws = workspace(mode, { Dockerfile: DOCKERFILE }, (ctx) => copyFileSync(tar, path.join(ctx, "debian.tar")));
    const r = await cliBuild(ws, ["--progress", "plain", "-t", "debian-hello"]);
    expect(r.output).not.toMatch(/\n\s+at /);
    expect(r.status, r.output).toBe(0);

    const rootfs = await umociUnpack(ws.root, "docker.io/library/debian-hello:latest");
    expect(readFileSync(path.join(rootfs, "greeting"), "utf8")).toBe("Hello, world!\n");
    expect(readFileSync(path.join(rootfs, "hosts-seen"), "utf8")).toMatch(/^(127\.0\.0\.1|::1)\s+localhost/);
    // Merged /usr survived ADD and both RUN layers: /lib and /bin are still symlinks into /usr.
    expect(readlinkSync(path.join(rootfs, "lib"))).toBe("usr/lib");
    expect(readlinkSync(path.join(rootfs, "bin"))).toBe("usr/bin");
    expect(lstatSync(path.join(rootfs, "usr/bin/hello")).uid).toBe(0);
    // apt's own user owns its download directory in the image, whoever built it.
    const aptUid = Number(/^_apt:x:(\d+):/m.exec(readFileSync(path.join(rootfs, "etc/passwd"), "utf8"))![1]);
    expect(lstatSync(path.join(rootfs, "var/cache/apt/archives/partial")).uid).toBe(aptUid);
    // The resolver files the RUN steps were given stay out of the image, as the base had none.
    expect(existsSync(path.join(rootfs, "etc/resolv.conf"))).toBe(false);
    expect(existsSync(path.join(rootfs, "etc/hosts"))).toBe(false);
  }, 900_000);
});
