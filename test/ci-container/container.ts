/**
 * A CI job's container, made with runc as `docker run` (without --privileged) makes it:
 * Docker's default capabilities, its default seccomp profile (fixtures/, converted from
 * moby's), the masked and read-only /proc paths `runc spec` gives, Docker's device
 * rules, no user namespace, the host's network, and a root on overlayfs. The root
 * holds the host's /usr (node, coreutils, util-linux, uidmap) read-only, its own /etc
 * with a user `ci` (uid 1000, a subordinate id range), and tbuild's checkout read-only
 * at /tbuild, so tbuild runs inside it as a CI job would.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const FIXTURES = path.join(import.meta.dirname, "fixtures");
const REPO = path.resolve(import.meta.dirname, "../..");

/** moby daemon/pkg/oci/caps/defaults.go (as fixtures/convert-seccomp.mjs). */
export const DOCKER_DEFAULT_CAPS = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

export const CI_UID = 1000;

/** Whether this machine can run the containers: root, runc, overlayfs. */
export function canRunContainers(): boolean {
  return process.geteuid?.() === 0 && spawnSync("runc", ["--version"]).status === 0;
}

export interface RunOptions {
  uid: number;
  env?: Record<string, string>;
  /** Docker's default profile (default), or none, as with --security-opt seccomp=unconfined. */
  seccomp?: "docker" | "unconfined";
  /** /usr/bin/newuidmap and newgidmap with file capabilities instead of the setuid bit (as `setcap` in the image). */
  fileCapsUidmap?: boolean;
  /** No masked or read-only /proc paths, as with --security-opt systempaths=unconfined. */
  procUnmasked?: boolean;
  timeoutMs: number;
}

export interface Container {
  /** Host directory shown at /out in the container, writable. */
  out: string;
  /** Host directory shown at /ctx in the container (a build context), read-only. */
  ctx: string;
  /** Runs `argv` in a fresh container on this root (state kept between runs), as `uid`. */
  run(argv: string[], o: RunOptions): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>;
  remove(): void;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

/** The etc/ of the container: the host's name service files, plus `ci` with a subordinate range. */
function writeEtc(etc: string): void {
  mkdirSync(etc, { recursive: true });
  for (const f of ["nsswitch.conf", "resolv.conf", "hosts", "ld.so.cache", "login.defs"]) {
    if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, path.join(etc, f));
  }
  writeFileSync(path.join(etc, "passwd"), `root:x:0:0:root:/root:/bin/sh\nci:x:${CI_UID}:${CI_UID}::/home/ci:/bin/sh\n`);
  writeFileSync(path.join(etc, "group"), `root:x:0:\nci:x:${CI_UID}:\n`);
  writeFileSync(path.join(etc, "subuid"), "ci:100000:65536\n");
  writeFileSync(path.join(etc, "subgid"), "ci:100000:65536\n");
}

function config(rootfs: string, c: Container, o: RunOptions & { argv: string[] }): unknown {
  // What `runc spec` gives (masked and read-only paths, the standard mounts), then Docker's choices.
  const spec = runcSpec();
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  spec.root = { path: rootfs, readonly: false };
  spec.process.terminal = false;
  spec.process.user = { uid: o.uid, gid: o.uid };
  spec.process.args = o.argv;
  spec.process.cwd = o.uid === 0 ? "/root" : "/home/ci";
  spec.process.env = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    `HOME=${o.uid === 0 ? "/root" : "/home/ci"}`,
    ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  // As dockerd: the default set in bounding, effective and permitted (ambient and inheritable empty); none for a non-root user.
  const caps = DOCKER_DEFAULT_CAPS;
  spec.process.capabilities = { bounding: caps, effective: o.uid === 0 ? caps : [], permitted: o.uid === 0 ? caps : [], inheritable: [], ambient: [] };
  spec.process.noNewPrivileges = false;
  spec.hostname = "ci-job";
  // No user namespace, the host's network.
  spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== "network" && n.type !== "user");
  if (o.procUnmasked === true) {
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
  }
  if (o.seccomp !== "unconfined") spec.linux.seccomp = JSON.parse(readFileSync(path.join(FIXTURES, `docker-default-seccomp.${arch}.json`), "utf8"));
  // Docker's device rules: mknod of any node, read/write only of the standard ones.
  spec.linux.resources = {
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", access: "m" },
      { allow: true, type: "b", access: "m" },
      ...[[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [136, -1]].map(([major, minor]) => ({ allow: true, type: "c", major, ...(minor === -1 ? {} : { minor }), access: "rwm" })),
    ],
  };
  const bind = (source: string, destination: string, ro: boolean) => ({ destination, type: "bind", source, options: ["rbind", ro ? "ro" : "rw"] });
  spec.mounts.push(bind("/usr", "/usr", true), bind(REPO, "/tbuild", true), bind(c.out, "/out", false), bind(c.ctx, "/ctx", true));
  if (o.fileCapsUidmap === true) for (const tool of ["newuidmap", "newgidmap"]) spec.mounts.push(bind(path.join(rootfs, "opt/uidmap", tool), `/usr/bin/${tool}`, true));
  return spec;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- runc's own document, edited field by field
function runcSpec(): any {
  const dir = mkdtempSync(path.join(tmpdir(), "runc-spec-"));
  try {
    sh("runc", ["spec", "--bundle", dir]);
    return JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let serial = 0;

/** A container root on overlayfs (lower: a skeleton, upper: the job's writes), kept across runs. */
export function makeContainer(): Container {
  const base = mkdtempSync(path.join(tmpdir(), "tbuild-ci-container-"));
  const [lower, upper, work, rootfs, bundle] = ["lower", "upper", "work", "rootfs", "bundle"].map((d) => path.join(base, d)) as [string, string, string, string, string];
  for (const d of [lower, upper, work, rootfs, bundle]) mkdirSync(d);
  for (const d of ["usr", "tmp", "proc", "dev", "sys", "root", "home/ci", "tbuild", "out", "ctx", "var/lib"]) mkdirSync(path.join(lower, d), { recursive: true });
  chmodSync(path.join(lower, "tmp"), 0o1777);
  chownSync(path.join(lower, "home/ci"), CI_UID, CI_UID);
  for (const l of ["bin", "lib", "lib64", "sbin"]) if (existsSync(`/usr/${l}`)) symlinkSync(`usr/${l}`, path.join(lower, l));
  writeEtc(path.join(lower, "etc"));
  // newuidmap/newgidmap with file capabilities instead of the setuid bit, for runs with fileCapsUidmap.
  mkdirSync(path.join(lower, "opt/uidmap"), { recursive: true });
  for (const [tool, cap] of [["newuidmap", "cap_setuid+ep"], ["newgidmap", "cap_setgid+ep"]] as const) {
    const copy = path.join(lower, "opt/uidmap", tool);
    copyFileSync(`/usr/bin/${tool}`, copy);
    chmodSync(copy, 0o755);
    sh("setcap", [cap, copy]);
  }
  sh("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, rootfs]);
  const c: Container = {
    out: path.join(base, "out"),
    ctx: path.join(base, "ctx"),
    run: (argv, o) => {
      writeFileSync(path.join(bundle, "config.json"), JSON.stringify(config(rootfs, c, { ...o, argv })));
      const id = `tbuild-ci-${process.pid}-${serial++}`;
      const started = Date.now();
      return new Promise((resolve) => {
        const child = spawn("runc", ["run", "--bundle", bundle, id], { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        const timer = setTimeout(() => spawnSync("runc", ["kill", id, "KILL"]), o.timeoutMs);
        child.on("exit", (code) => {
          clearTimeout(timer);
          spawnSync("runc", ["delete", "--force", id]);
          resolve({ code, stdout, stderr, ms: Date.now() - started });
        });
      });
    },
    remove: () => {
      spawnSync("umount", ["-l", rootfs]);
      rmSync(base, { recursive: true, force: true });
    },
  };
  mkdirSync(c.out);
  chmodSync(c.out, 0o777);
  mkdirSync(c.ctx);
  return c;
}
