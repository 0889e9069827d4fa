/**
 * tbuild inside a CI job's unprivileged container (see container.ts: runc with Docker's
 * default capabilities, seccomp profile and masked /proc, no user namespace, host
 * network, overlay root), as GitLab's docker executor, a Kubernetes pod or a GitHub
 * Actions container job run it.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnAsync } from "../setup/spawn.js";
import { canRunContainers, CI_UID, makeContainer, type Container } from "./container.js";

const TBUILD = ["node", "/tbuild/dist/cli/main.js"];

const DOCKERFILE = `FROM scratch AS base
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc /tmp /home/app && echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd \\
 && echo "app:x:${CI_UID}:${CI_UID}::/home/app:/bin/sh" >> /etc/passwd && echo "app:x:${CI_UID}:" > /etc/group \\
 && chown app:app /home/app && echo welcome > /etc/motd

FROM base AS build
ARG ROUND=1
RUN --mount=type=cache,target=/var/cache/job sh -c 'echo $ROUND >> /var/cache/job/rounds; wc -l < /var/cache/job/rounds > /rounds; \\
 ls /dev > /devices; cat /etc/resolv.conf > /resolv-seen; echo x > /dev/null; head -c 4 /dev/urandom | wc -c > /random-bytes'

FROM base
COPY --from=build /rounds /devices /resolv-seen /random-bytes /seen/
RUN rm /etc/motd
USER app
RUN id -u > /home/app/uid && touch /home/app/mine
`;

/** The image in an OCI archive, unpacked with umoci; returns its rootfs. */
async function unpack(archive: string): Promise<string> {
  const layout = `${archive}.layout`;
  mkdirSync(layout);
  expect((await spawnAsync("tar", ["-xf", archive, "-C", layout])).status).toBe(0);
  const bundle = `${archive}.bundle`;
  const r = await spawnAsync("umoci", ["unpack", "--image", `${layout}:docker.io/library/app:latest`, bundle]);
  expect(r.stderr).toBe("");
  return path.join(bundle, "rootfs");
}

/** Names of every entry of every layer, from the blobs themselves (so whiteouts show as written). */
function layerEntries(archive: string): string[] {
  const layout = `${archive}.layout`;
  const index = JSON.parse(readFileSync(path.join(layout, "index.json"), "utf8"));
  const blob = (d: string) => path.join(layout, "blobs", ...d.split(":"));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"));
  return manifest.layers.flatMap((l: { digest: string }) => spawnSync("tar", ["-tzvf", blob(l.digest)], { encoding: "utf8" }).stdout.split("\n").filter((x: string) => x !== ""));
}

describe.skipIf(!canRunContainers())("in an unprivileged CI container (runc, Docker's defaults)", () => {
  let c: Container;
  beforeAll(() => {
    c = makeContainer();
    copyFileSync("/bin/busybox", path.join(c.ctx, "busybox"));
    writeFileSync(path.join(c.ctx, "Dockerfile"), DOCKERFILE);
  });
  afterAll(() => c?.remove());

  it("builds a multi-stage Dockerfile with RUN, COPY, USER and a cache mount as root, through chroot", async () => {
    const build = (round: string, out: string) =>
      c.run([...TBUILD, "build", "--root", "/var/lib/tbuild", "--build-arg", `ROUND=${round}`, "-t", "app", "-o", `type=oci,dest=/out/${out}`, "/ctx"], { uid: 0, timeoutMs: 240_000 });
    const first = await build("1", "first.tar");
    expect(first.stderr).toMatch(/allows no namespaces \(unshare: EPERM\): RUN steps run with chroot/);
    expect(first.stderr).toMatch(/RUN steps have no \/proc here/);
    expect(first.code, first.stderr).toBe(0);

    const archive = path.join(c.out, "first.tar");
    const inspect = JSON.parse((await spawnAsync("skopeo", ["inspect", `oci-archive:${archive}`])).stdout);
    expect(inspect.Layers.length).toBe(6);
    const rootfs = await unpack(archive);
    // The RUN saw a populated /dev, the container's resolv.conf and its cache mount ...
    expect(readFileSync(path.join(rootfs, "seen/devices"), "utf8").split("\n")).toEqual(expect.arrayContaining(["null", "zero", "urandom", "random", "full", "tty"]));
    expect(readFileSync(path.join(rootfs, "seen/random-bytes"), "utf8").trim()).toBe("4");
    expect(readFileSync(path.join(rootfs, "seen/resolv-seen"), "utf8")).toBe(readFileSync("/etc/resolv.conf", "utf8"));
    expect(readFileSync(path.join(rootfs, "seen/rounds"), "utf8").trim()).toBe("1");
    // ... none of which reached a layer; USER ran as the image's uid, and owns its file.
    for (const gone of ["dev", "proc", "etc/resolv.conf", "etc/hosts", "var/cache", "etc/motd"]) expect(existsSync(path.join(rootfs, gone)), gone).toBe(false);
    expect(readFileSync(path.join(rootfs, "home/app/uid"), "utf8").trim()).toBe(String(CI_UID));
    expect(statSync(path.join(rootfs, "home/app/mine")).uid).toBe(CI_UID);
    expect(statSync(path.join(rootfs, "home/app")).uid).toBe(CI_UID);
    const entries = layerEntries(archive);
    // The removal is an OCI whiteout file in the layer, never a device node; no device node at all.
    expect(entries.some((e) => /^-\S+ 0\/0 +0 .* etc\/\.wh\.motd$/.test(e))).toBe(true);
    expect(entries.filter((e) => /^c/.test(e))).toEqual([]);
    expect(entries.filter((e) => /(^| )(\.\/)?(dev|proc)\/|resolv\.conf|etc\/hosts|var\/cache/.test(e))).toEqual([]);

    // The cache mount outlives the build: a rerun of its step finds the first round's file.
    const second = await build("2", "second.tar");
    expect(second.code, second.stderr).toBe(0);
    expect(readFileSync(path.join(await unpack(path.join(c.out, "second.tar")), "seen/rounds"), "utf8").trim()).toBe("2");
  }, 600_000);

  it("as uid 1000 fails at once, saying what refused the namespaces and the two ways out", async () => {
    // What starting node and tbuild costs here (the machine may be busy): the failure must come right after.
    const start = await c.run([...TBUILD, "build", "--help"], { uid: CI_UID, timeoutMs: 60_000 });
    expect(start.code).toBe(0);
    const r = await c.run([...TBUILD, "build", "--root", "/home/ci/store", "-t", "app", "/ctx"], { uid: CI_UID, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    // "At once": no retry loop and no wait on a helper; a loaded machine stretches both runs alike.
    expect(r.ms).toBeLessThan(3 * start.ms + 3000);
    expect(r.stderr).toMatch(/seccomp profile refuses unshare \(EPERM\)/);
    expect(r.stderr).toMatch(/hint: either run the job as root inside its container .*, or relax the container .*seccomp=unconfined/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 180_000);

  // Under no_new_privs (bubblewrap) neither setuid nor file capabilities give newuidmap its powers.
  it.skipIf(/^NoNewPrivs:\s*1$/m.test(readFileSync("/proc/self/status", "utf8")))("as uid 1000 names each relaxation still missing, and builds once the container allows user namespaces", async () => {
    const build = (o: { fileCapsUidmap?: boolean; procUnmasked?: boolean }) =>
      c.run([...TBUILD, "build", "--root", "/home/ci/store", "-t", "app", "-o", "type=oci,dest=/out/rootless.tar", "/ctx"], { uid: CI_UID, seccomp: "unconfined", timeoutMs: 240_000, ...o });
    const setuidMap = await build({});
    expect(setuidMap.code).toBe(1);
    expect(setuidMap.stderr).toMatch(/newuidmap\/newgidmap \(setuid root\) were refused writing the id map in this container, though this user's subordinate range exists/);
    expect(setuidMap.stderr).toMatch(/hint: give them file capabilities .*setcap cap_setuid\+ep \/usr\/bin\/newuidmap/);

    const masked = await build({ fileCapsUidmap: true });
    expect(masked.code).toBe(1);
    expect(masked.stderr).toMatch(/a \/proc for the RUN step cannot be mounted: this container masks parts of its \/proc/);
    expect(masked.stderr).toMatch(/hint: unmask \/proc \(docker run --security-opt systempaths=unconfined; Kubernetes securityContext.procMount: Unmasked\)/);

    const relaxed = await build({ fileCapsUidmap: true, procUnmasked: true });
    expect(relaxed.code, relaxed.stderr).toBe(0);
    const rootfs = await unpack(path.join(c.out, "rootless.tar"));
    expect(readFileSync(path.join(rootfs, "home/app/uid"), "utf8").trim()).toBe(String(CI_UID));
    expect(lstatSync(path.join(rootfs, "home/app/mine")).uid).toBe(CI_UID);
  }, 600_000);
});
