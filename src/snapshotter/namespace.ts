/**
 * The namespace helper: runs a command (or a tbuild worker script) with root-like
 * powers over the caller's subordinate id range.
 *
 * Snapshot trees hold files owned by image uids (0, 33, 999, ...). As real root we
 * touch them directly. As a normal user those files are owned on the host by
 * subordinate ids (host id = subuid base + image id - 1), which the user can neither
 * read nor chown; inside `unshare --map-root-user --map-auto` the same files show up
 * with their image ids and namespace-root may chown, mknod whiteouts and mount
 * overlay with `userxattr`. So every operation that touches a snapshot tree goes
 * through `nsSpawn`, which is a plain spawn when we are already (namespace-)root.
 * The builder's RUN executor reuses the same wrapper with `mount: true, pid: true`.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { TbuildError } from "../errors.js";

/** True when this process may chown to any id and mknod whiteouts: real root or root in a user namespace. */
export function isPrivileged(): boolean {
  return process.geteuid?.() === 0;
}

/**
 * True when this process runs inside a user namespace (its uid map is not the
 * identity map). Overlay in a user namespace must use `userxattr`, and whiteout and
 * opaque markers then live in `user.overlay.*` rather than `trusted.overlay.*`.
 */
export function inUserNamespace(): boolean {
  try {
    const map = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    return !(map.length === 3 && map[0] === "0" && map[1] === "0" && map[2] === "4294967295");
  } catch {
    return false;
  }
}

/** The xattr namespace overlayfs uses for its markers in this process's mounts. */
export function overlayXattrPrefix(): "trusted.overlay." | "user.overlay." {
  return inUserNamespace() ? "user.overlay." : "trusted.overlay.";
}

export interface NsOptions {
  /** A private mount namespace, so mounts vanish with the process. */
  mount?: boolean;
  /** A private pid namespace (for RUN). Implies a fork. */
  pid?: boolean;
}

/**
 * The argv that runs `cmd args` with ownership powers. Unprivileged callers get a new
 * user namespace mapping root to themselves and ids 1..n to their /etc/subuid and
 * /etc/subgid ranges (util-linux >= 2.38 `--map-auto`, which calls newuidmap).
 */
export function nsArgv(cmd: string, args: readonly string[], o: NsOptions = {}): string[] {
  const extra: string[] = [];
  if (o.mount) extra.push("--mount", "--propagation", "private");
  if (o.pid) extra.push("--pid", "--mount-proc");
  if (isPrivileged()) {
    return extra.length === 0 ? [cmd, ...args] : ["unshare", ...extra, "--fork", "--", cmd, ...args];
  }
  return ["unshare", "--user", "--map-root-user", "--map-auto", ...extra, "--fork", "--", cmd, ...args];
}

/** Spawns `cmd args` through `nsArgv`. */
export function nsSpawn(cmd: string, args: readonly string[], o: NsOptions & SpawnOptions = {}): ChildProcess {
  const [bin, ...rest] = nsArgv(cmd, args, o);
  return spawn(bin as string, rest, { stdio: o.stdio ?? ["ignore", "pipe", "pipe"], cwd: o.cwd, env: o.env ?? process.env, detached: o.detached ?? false });
}

/**
 * Path of the compiled worker script (`worker.js`). Under vitest the sources run from
 * `src/`; the worker then is the compiled twin in `dist/` (`npm test` builds first).
 */
export function workerScript(): string {
  const here = fileURLToPath(new URL("./worker.js", import.meta.url));
  return import.meta.url.endsWith(".ts") ? here.replace(/\/src\/snapshotter\/worker\.js$/, "/dist/snapshotter/worker.js") : here;
}

/** What a failed command printed, as the tail a person needs. */
function tail(s: string): string {
  const t = s.trim();
  return t.length > 600 ? "..." + t.slice(-600) : t;
}

/**
 * Turns a failed `unshare` into advice, since its raw message ("unshare failed:
 * Operation not permitted", "no subuid ranges") names no fix.
 */
export function namespaceFailure(stderr: string, doing: string): TbuildError | undefined {
  if (isPrivileged()) return undefined;
  if (/subuid|subgid|newuidmap|newgidmap/i.test(stderr)) {
    return new TbuildError("failed-precondition", `${doing}: no subordinate id range for this user: ${tail(stderr)}`, {
      hint: "add a range to /etc/subuid and /etc/subgid (e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER`) and install the uidmap package",
    });
  }
  if (/^unshare: /m.test(stderr)) {
    return new TbuildError("permission-denied", `${doing}: cannot create a user namespace here: ${tail(stderr)}`, {
      hint: "user namespaces are disabled on this machine (sysctl user.max_user_namespaces, seccomp or AppArmor); run tbuild as root inside a throwaway container instead",
    });
  }
  return undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a short command through the namespace helper and collects its output. A
 * non-zero exit becomes a TbuildError saying what we were doing and what it printed.
 */
export function nsRun(cmd: string, args: readonly string[], doing: string, o: NsOptions & { input?: string | Buffer; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = nsSpawn(cmd, args, { ...o, stdio: [o.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) =>
      reject(new TbuildError("unavailable", `${doing}: cannot run ${cmd}: ${e.message}`, { cause: e, hint: `install the package providing '${cmd}'` })),
    );
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) return resolve({ stdout, stderr });
      reject(namespaceFailure(stderr, doing) ?? new TbuildError("internal", `${doing}: ${cmd} failed (exit ${code}): ${tail(stderr)}`));
    });
    if (o.input !== undefined) child.stdin?.end(o.input);
  });
}

/** Deletes a tree that may hold files owned by subordinate ids: in the namespace unless we are root. */
export async function removeOwnedTree(path: string): Promise<void> {
  if (isPrivileged()) await rm(path, { recursive: true, force: true });
  else await nsRun("rm", ["-rf", "--", path], `removing ${path}`);
}

/** Overlay mounts here need `userxattr`: in a user namespace overlay keeps its markers in user.* xattrs. */
export function overlayMountOptions(): string[] {
  return !isPrivileged() || inUserNamespace() ? ["userxattr"] : [];
}

