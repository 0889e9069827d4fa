/**
 * What a RUN step gets, as docker build gives it, on a base image that has none of it
 * (busybox on scratch: no /etc at all), as root and rootless.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { registryForFile } from "../setup/registry-per-file.js";
import { skopeoInspect, umociUnpack } from "./helpers.js";
import { cliBuild, MODES, workspace } from "./modes.js";

/** Builds as the rootless user on a busy machine take their time. */
const SLOW = 240_000;

const BASE = 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY probe /bin/probe\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';

function withProbe(ctx: string): void {
  execFileSync("cc", ["-static", "-O2", "-o", path.join(ctx, "probe"), path.join(import.meta.dirname, "fixtures/probe.c")]);
}

const registry = registryForFile();

describe.each(MODES)("a RUN step (%s)", (mode) => {
  it("gets resolv.conf, hosts (with --add-host), its own hostname, a pty, /dev/shm and docker's open-files limit, none of which reach the layer", async () => {
    const port = registry.port;
    const ws = workspace(
      mode,
      {
        Dockerfile:
          BASE +
          `RUN mkdir /out && wget -q -O /out/by-name http://registry.test:${port}/v2/ && wget -q -O /out/by-localhost http://localhost:${port}/v2/ ` +
          "&& hostname > /out/hostname && cat /etc/hostname > /out/etc-hostname && cat /etc/resolv.conf > /out/resolv " +
          "&& probe pty > /out/pty && df -k /dev/shm | tail -1 > /out/shm && ulimit -n > /out/nofile\n",
      },
      withProbe,
    );
    const r = await cliBuild(ws, ["-t", "files", "--add-host", "registry.test:127.0.0.1"]);
    expect(r.output).toContain("built ");
    expect(r.status).toBe(0);
    const rootfs = await umociUnpack(ws.root, "docker.io/library/files:latest");
    const out = (f: string) => readFileSync(path.join(rootfs, "out", f), "utf8");
    // The registry answers /v2/ with "{}": reached by the --add-host name and by localhost.
    expect(out("by-name").trim()).toBe("{}");
    expect(out("by-localhost").trim()).toBe("{}");
    expect(out("hostname")).toBe("buildkitsandbox\n");
    expect(out("etc-hostname")).toBe("buildkitsandbox\n");
    expect(out("resolv")).toBe(readFileSync("/etc/resolv.conf", "utf8"));
    expect(out("pty")).toBe("pty: ok\n");
    expect(out("shm").split(/\s+/)[1]).toBe("65536");
    expect(out("nofile")).toBe("1024\n");
    // No placeholder of any of it in the image: the base had no /etc, /proc, /dev or /sys.
    for (const d of ["etc", "proc", "dev", "sys"]) expect(existsSync(path.join(rootfs, d))).toBe(false);
    expect(execFileSync("hostname", { encoding: "utf8" }).trim()).not.toBe("buildkitsandbox");
  }, SLOW);

  it("runs USER with the supplementary groups of the image's /etc/group, as docker does", async () => {
    const ws = workspace(
      mode,
      {
        Dockerfile:
          BASE +
          "RUN mkdir -p /etc && printf 'root:x:0:0::/root:/bin/sh\\nnobody:x:65534:65534::/nonexistent:/bin/sh\\n' > /etc/passwd " +
          "&& printf 'root:x:0:\\nstaff:x:50:nobody\\naudio:x:29:someone,nobody\\nother:x:70:someone\\nnogroup:x:65534:\\n' > /etc/group\n" +
          "USER nobody\nRUN id\n",
      },
      withProbe,
    );
    const r = await cliBuild(ws, ["-t", "groups"]);
    // The kernel keeps groups sorted; docker's `id` shows the same set.
    expect(r.output).toContain("uid=65534(nobody) gid=65534(nogroup) groups=29(audio),50(staff),65534(nogroup)\n");
    // /etc/hosts and friends were mounted into the image's /etc, yet `RUN id` added no layer.
    expect((await skopeoInspect(`oci:${ws.root}:docker.io/library/groups:latest`)).Layers).toHaveLength(4);
  }, SLOW);

  it("shows docker build's capabilities and seccomp in /proc/self/status (no CAP_NET_RAW on the host's network)", async () => {
    const ws = workspace(
      mode,
      { Dockerfile: BASE + "RUN grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):' /proc/self/status\nRUN --network=none grep -E '^(CapBnd|Seccomp):' /proc/self/status\n" },
      withProbe,
    );
    const r = await cliBuild(ws);
    expect(r.status).toBe(0);
    // docker's default set (0xa80425fb) without CAP_MKNOD (bit 27) and, on the host's network, CAP_NET_RAW (bit 13).
    for (const line of ["CapInh:\t0000000000000000", "CapPrm:\t00000000a00405fb", "CapEff:\t00000000a00405fb", "CapBnd:\t00000000a00405fb", "CapAmb:\t0000000000000000"]) {
      expect(r.output).toContain(line + "\n");
    }
    expect(r.output).toContain("CapBnd:\t00000000a00425fb\n");
    expect(r.output.match(/Seccomp:\t2\n/g)).toHaveLength(2);
  }, SLOW);
});
