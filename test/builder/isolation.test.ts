import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, umociUnpack } from "./helpers.js";

/** A host directory the build must never reach, and its marker file. */
function hostTarget(): { dir: string; sentinel: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "tbuild-host-"));
  writeFileSync(path.join(dir, "secret.txt"), "host-secret");
  return { dir, sentinel: path.join(dir, "ESCAPED") };
}

describe("a RUN step stays inside its root", () => {
  it("cannot leave it the way a chroot is left (pivot_root, not chroot)", async () => {
    const host = hostTarget();
    const ctx = context({ Dockerfile: BUSYBOX_BASE + `COPY escape /escape\nRUN /escape ${host.sentinel}; cat ${host.dir}/secret.txt || true\n` });
    execFileSync("cc", ["-static", "-O2", "-o", path.join(ctx, "escape"), path.join(import.meta.dirname, "fixtures/chroot-escape.c")]);
    const { output } = await buildCollecting({ context: ctx, root: freshRoot() });
    expect(existsSync(host.sentinel)).toBe(false);
    expect(output).not.toContain("host-secret");
  });

  it("does not start in the host's directory through WORKDIR /proc/self/cwd (Leaky Vessels)", async () => {
    const host = hostTarget();
    const ctx = context({
      Dockerfile: BUSYBOX_BASE + `WORKDIR /proc/self/cwd\nRUN cd ../../../../../../..; cat .${host.dir}/secret.txt; echo x > .${host.sentinel}; true\n`,
    });
    const { output } = await buildCollecting({ context: ctx, root: freshRoot() }).catch((e: Error) => ({ output: e.message }));
    expect(existsSync(host.sentinel)).toBe(false);
    expect(output).not.toContain("host-secret");
  });

  it("passes image ENV entries as data, never as options of a host program", async () => {
    const host = hostTarget();
    const ctx = context({ Dockerfile: BUSYBOX_BASE.replace("COPY busybox", `ENV -S="/bin/sh -c 'echo pwn > ${host.sentinel}' --"\nCOPY busybox`) + "RUN env > /env.txt\n" });
    await buildCollecting({ context: ctx, root: freshRoot() });
    expect(existsSync(host.sentinel)).toBe(false);
  });

  it("refuses mount targets that a symlink would send outside the root", async () => {
    const host = hostTarget();
    const root = freshRoot();
    const viaProc = context({ Dockerfile: BUSYBOX_BASE + `RUN --mount=type=tmpfs,target=/proc/self/root${host.dir}/made true\n` });
    await expect(buildCollecting({ context: viaProc, root })).rejects.toThrow(/\/proc is the step's own/);
    const viaCache = context({
      Dockerfile: BUSYBOX_BASE + `RUN --mount=type=cache,id=planted,target=/c ln -sfn ${host.dir} /c/link\nRUN --mount=type=cache,id=planted,target=/c --mount=type=tmpfs,target=/c/link/made true\n`,
    });
    await expect(buildCollecting({ context: viaCache, root })).rejects.toThrow(/exit code 125/);
    expect(existsSync(path.join(host.dir, "made"))).toBe(false);
  });

  it("drops the capabilities docker build's RUN does not have", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN grep CapBnd /proc/self/status > /caps && mknod /dev/sda-copy b 8 0 || echo refused > /mknod\n" });
    const root = freshRoot();
    await buildCollecting({ context: ctx, root, tags: ["caps"] });
    const rootfs = await umociUnpack(root, "docker.io/library/caps:latest");
    expect(readFileSync(path.join(rootfs, "mknod"), "utf8")).toBe("refused\n");
    // CAP_SYS_ADMIN (bit 21) and CAP_MKNOD (bit 27) are gone from the bounding set.
    const bounding = BigInt("0x" + readFileSync(path.join(rootfs, "caps"), "utf8").split(/\s+/)[1]!);
    expect(bounding & (1n << 21n)).toBe(0n);
    expect(bounding & (1n << 27n)).toBe(0n);
  });
});

describe("reading another stage's tree for COPY --from", () => {
  it("never follows a lower layer's symlink on the host", async () => {
    const host = hostTarget();
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS evil") +
        `RUN ln -s ${host.dir} /a\nRUN rm /a && mkdir -p /a/inner\nFROM scratch\nCOPY --from=evil /a/ /stolen/\n`,
    });
    await buildCollecting({ context: ctx, root, tags: ["stolen"] });
    const rootfs = await umociUnpack(root, "docker.io/library/stolen:latest");
    expect(existsSync(path.join(rootfs, "stolen/secret.txt"))).toBe(false);
    expect(existsSync(path.join(rootfs, "stolen/inner"))).toBe(true);
  });

  it("does not bring back files an opaque directory hid", async () => {
    const root = freshRoot();
    const ctx = context({
      Dockerfile:
        BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS s") +
        "RUN mkdir /d && echo deleted > /d/key\nRUN rm -rf /d && mkdir /d && echo new > /d/new\nFROM scratch\nCOPY --from=s /d/ /out/\n",
    });
    await buildCollecting({ context: ctx, root, tags: ["opaque"] });
    const rootfs = await umociUnpack(root, "docker.io/library/opaque:latest");
    expect(existsSync(path.join(rootfs, "out/new"))).toBe(true);
    expect(existsSync(path.join(rootfs, "out/key"))).toBe(false);
  });
});

