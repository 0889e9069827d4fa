/**
 * A hostile build against the RUN sandbox (the attacks of issue #8), as root and as the
 * rootless test user: every input is made here, nothing is downloaded.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { processesMatching } from "../setup/processes.js";
import { rootlessEnv, TEST_USER } from "../setup/rootless.js";
import { spawnAsync } from "../setup/spawn.js";
import { tarOf } from "../snapshotter/helpers.js";
import { cliBuild, MODES, startBuild, type Mode, type Workspace, workspace } from "./modes.js";

/** Builds as the rootless user on a busy machine take their time. */
const SLOW = 240_000;

const BASE = 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY probe /bin/probe\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';

function withProbe(ctx: string): void {
  execFileSync("cc", ["-static", "-O2", "-o", path.join(ctx, "probe"), path.join(import.meta.dirname, "fixtures/probe.c")]);
}

/** A host directory the step must never reach, writable by the mode's user (so only the sandbox stops it). */
function hostDir(mode: Mode): string {
  const dir = mkdtempSync(path.join(tmpdir(), "tbuild-host-"));
  writeFileSync(path.join(dir, "secret.txt"), "host-secret");
  if (mode === "rootless") chownSync(dir, rootlessEnv()!.uid, rootlessEnv()!.gid);
  return dir;
}

function running(pattern: string): boolean {
  return processesMatching(pattern).length > 0;
}

async function until(what: string, check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function pidFileFor(ws: Workspace): string {
  return path.join(path.dirname(ws.root), `pid-${Math.random().toString(36).slice(2)}`);
}

/** Files under `dir` whose content includes `needle` (grep -r, as a person would look). */
function filesContaining(dir: string, needle: string): string {
  return spawnSync("grep", ["-rl", "--", needle, dir], { encoding: "utf8" }).stdout;
}

describe.each(MODES)("a hostile RUN step (%s)", (mode) => {
  it("gets read-only /proc/sys, masked /proc/keys and /sys/firmware, docker's seccomp, no raw socket, and cannot rename the host", async () => {
    const hostCore = readFileSync("/proc/sys/kernel/core_pattern", "utf8");
    const hostName = execFileSync("hostname", { encoding: "utf8" });
    const ws = workspace(
      mode,
      {
        Dockerfile:
          BASE +
          "RUN probe add_key; probe rawsock; (echo '|/tmp/pwn' > /proc/sys/kernel/core_pattern) 2>/dev/null; echo core=$?; " +
          "hostname pwned 2>/dev/null; echo hostname=$?; echo keys=$(cat /proc/keys | wc -c); echo firmware=$(ls /sys/firmware | wc -l); " +
          "echo sysrq=$( (echo h > /proc/sysrq-trigger) 2>&1 >/dev/null | grep -c Read-only); cat /proc/self/mountinfo\n",
      },
      withProbe,
    );
    const r = await cliBuild(ws);
    expect(r.status).toBe(0);
    expect(r.output).toContain("add_key: EPERM\n"); // refused by the seccomp filter, not by a capability
    expect(r.output).toContain("rawsock: EPERM\n");
    expect(r.output).toMatch(/core=[1-9]/);
    expect(r.output).toMatch(/hostname=[1-9]/);
    expect(r.output).toContain("keys=0\n");
    expect(r.output).toContain("firmware=0\n");
    if (existsSync("/proc/sysrq-trigger")) expect(r.output).toContain("sysrq=1\n");
    expect(readFileSync("/proc/sys/kernel/core_pattern", "utf8")).toBe(hostCore);
    expect(execFileSync("hostname", { encoding: "utf8" })).toBe(hostName);
    // The step's mount table does not tell where tbuild's store is on the host.
    expect(r.output).not.toContain(ws.root);
  }, SLOW);

  it("stays closed to the known escapes: chroot walk-out, Leaky Vessels' WORKDIR, tbuild's env and processes, stage binds through symlinks, cache-id traversal, stub cleanup through a swapped symlink", async () => {
    const host = hostDir(mode);
    execFileSync("mkdir", ["-p", path.join(host, "sub/m")]);
    if (mode === "rootless") execFileSync("chown", ["-R", `${rootlessEnv()!.uid}:${rootlessEnv()!.gid}`, host]);
    const ws = workspace(
      mode,
      {
        Dockerfile:
          BASE.replace("FROM scratch", "FROM scratch AS evil") +
          "RUN ln -s / /rootdir && echo inside-stage > /marker\nFROM evil\n" +
          "COPY escape /escape\n" +
          // A chroot can be left by chroot-ing deeper and walking up; pivot_root leaves nothing above /.
          `RUN /escape ${host}/ESCAPED-chroot; cat ${host}/secret.txt; true\n` +
          // CVE-2021-3602: the step sees neither tbuild's environment nor its processes.
          "RUN env; ps -o pid,args\n" +
          // CVE-2024-1753: a bind source is resolved inside its stage, even through a symlink to /.
          "RUN --mount=type=bind,from=evil,source=/rootdir,target=/m ls /m/ && ls /m/tmp /m/home 2>&1; true\n" +
          // CVE-2024-9675: a cache id is a key, never a path.
          `RUN --mount=type=cache,id=../../../../..${host},target=/c touch /c/was-here\n` +
          // CVE-2024-23652: the stub made for the mount must not be cleaned up through a symlink the step swapped in.
          `RUN --mount=type=tmpfs,target=/stub/sub/m mv /stub /stub-moved && ln -s ${host} /stub; true\n` +
          // CVE-2024-21626: WORKDIR /proc/self/cwd starts in the step's own tree.
          `WORKDIR /proc/self/cwd\nRUN cd ../../../../../../..; cat .${host}/secret.txt; echo x > .${host}/ESCAPED-workdir; true\n`,
      },
      (ctx) => {
        withProbe(ctx);
        execFileSync("cc", ["-static", "-O2", "-o", path.join(ctx, "escape"), path.join(import.meta.dirname, "fixtures/chroot-escape.c")]);
      },
    );
    const r = await cliBuild(ws, [], { TBUILD_TEST_SECRET: "do-not-leak" });
    // Every attack ran: the last step looked for the host's file from its own root.
    expect(r.output).toContain(`can't open '.${host}/secret.txt'`);
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/\bmarker\b/); // the stage's own root, seen through its /rootdir symlink
    expect(r.output).not.toContain("host-secret");
    expect(r.output).not.toContain("do-not-leak");
    expect(r.output).not.toMatch(/main\.js build/);
    expect(readdirSync(host).sort()).toEqual(["secret.txt", "sub"]);
    expect(readdirSync(path.join(host, "sub"))).toEqual(["m"]);
  }, SLOW);

  it("cannot open a host device through a device node from an ADD archive (the root is nodev)", async () => {
    const ws = workspace(mode, { Dockerfile: BASE + "ADD devices.tar /\nRUN probe open /evil/null; probe open /evil/zero\n" }, withProbe);
    writeFileSync(
      path.join(ws.ctx, "devices.tar"),
      await tarOf([
        { name: "evil", type: "directory" },
        { name: "evil/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
        { name: "evil/zero", type: "character-device", devmajor: 1, devminor: 5, mode: 0o666 },
      ]),
    );
    if (mode === "rootless") chownSync(path.join(ws.ctx, "devices.tar"), rootlessEnv()!.uid, rootlessEnv()!.gid);
    const r = await cliBuild(ws);
    expect(r.status).toBe(0);
    // As root the nodes exist but the mount forbids them; rootless they cannot even be made.
    expect(r.output).toMatch(mode === "root" ? /\/evil\/null: EACCES\n/ : /\/evil\/null: (EACCES|ENOENT)\n/);
    expect(r.output).not.toMatch(/\/evil\/(null|zero): ok/);
  }, SLOW);

  it("inherits no file descriptor from whoever started tbuild (exec 9</; tbuild build)", async () => {
    const ws = workspace(mode, { Dockerfile: BASE + "RUN if [ -e /proc/self/fd/9 ]; then echo LEAK''ED; cat /proc/self/fd/9/etc/hostname; else echo CLO''SED; fi\n" }, withProbe);
    const child = startBuild(ws, [], { pidFile: pidFileFor(ws), extraFd: 9 });
    let output = "";
    child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    // The quotes keep the words out of the echoed command line.
    expect(output).toContain("CLOSED\n");
    expect(output).not.toContain("LEAKED");
    expect(status).toBe(0);
  }, SLOW);

  it.each(["SIGKILL", "SIGTERM"] as const)("ends with tbuild on %s, leaving no process and no copy of a secret behind", async (signal) => {
    const marker = `${31000 + Math.floor(Math.random() * 9000)}`;
    const secret = `tbuild-secret-${marker}-${mode}`;
    const ws = workspace(mode, { Dockerfile: BASE + `RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && exec sleep ${marker}\n` }, withProbe);
    const secretFile = path.join(path.dirname(ws.ctx), `tok-${marker}`);
    writeFileSync(secretFile, secret);
    if (mode === "rootless") chownSync(secretFile, rootlessEnv()!.uid, rootlessEnv()!.gid);
    const pidFile = pidFileFor(ws);
    const child = startBuild(ws, ["--secret", `id=tok,src=${secretFile}`], { pidFile });
    const closed = new Promise((resolve) => child.on("close", resolve));
    try {
      await until("the RUN step runs", () => running(`^sleep ${marker}$`), 90_000);
      process.kill(Number(readFileSync(pidFile, "utf8")), signal);
      await closed;
      await until("the RUN step is gone", () => !running(`^sleep ${marker}$`), 10_000);
    } finally {
      child.kill("SIGKILL");
    }
    expect(filesContaining(ws.root, secret)).toBe("");
  }, SLOW);

  it("creates no mount point on the host while another build swaps a shared cache's directory for a symlink (CVE-2024-23651 class)", async () => {
    const host = hostDir(mode);
    const swapper = workspace(
      mode,
      {
        Dockerfile:
          BASE +
          `RUN --mount=type=cache,id=race,target=/c end=$(( $(date +%s) + 12 )); while [ $(date +%s) -lt $end ]; do ` +
          `rm -rf /c/x; mkdir /c/x; rm -rf /c/x; ln -s ${host} /c/x; done; rm -rf /c/x\n`,
      },
      withProbe,
    );
    const swapping = cliBuild(swapper);
    // Same store: the cache mount is shared. Each attempt finds a directory, a symlink or nothing at /c/x.
    const victim: Workspace = { ...workspace(mode, { Dockerfile: BASE + "RUN --mount=type=cache,id=race,target=/c --mount=type=tmpfs,target=/c/x/made true\n" }, withProbe), root: swapper.root };
    await new Promise((r) => setTimeout(r, 4000));
    for (let i = 0; i < 4; i++) await cliBuild(victim, ["--no-cache"]);
    expect((await swapping).status).toBe(0);
    expect(readdirSync(host)).toEqual(["secret.txt"]);
  }, SLOW);
});

describe.skipIf(process.geteuid?.() !== 0)("the store as root", () => {
  it("keeps a layer's setuid-root file out of other users' reach", async () => {
    const ws = workspace("root", { Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY --chmod=4755 busybox /suid-shell\nRUN ["/bin/busybox", "true"]\n' });
    const r = await cliBuild(ws);
    expect(r.status).toBe(0);
    const planted = spawnSync("find", [path.join(ws.root, "snapshotter"), "-name", "suid-shell"], { encoding: "utf8" }).stdout.trim().split("\n")[0]!;
    expect(planted).not.toBe("");
    rootlessEnv(); // creates the unprivileged user
    const tried = await spawnAsync("runuser", ["-u", TEST_USER, "--", planted, "id", "-u"]);
    expect(tried.stdout).not.toBe("0\n");
    expect(tried.stderr).toMatch(/Permission denied/);
  }, SLOW);
});
