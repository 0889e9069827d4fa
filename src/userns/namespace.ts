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
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { spawnGroup, waitExit } from "../child-process.js";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { isTbuildError, TbuildError } from "../errors.js";
import { installHint, missingTool } from "../os-tools.js";
import { diagnoseNamespaces } from "./namespace-diagnosis.js";

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
  // A process group of its own: waitExit kills it whole, with the helper unshare may leave blocked.
  return spawnGroup(bin as string, rest, { stdio: o.stdio ?? ["ignore", "pipe", "pipe"], cwd: o.cwd, env: o.env ?? process.env });
}

/** What a failed command printed, as the tail a person needs. */
function tail(s: string): string {
  const t = s.trim();
  return t.length > 600 ? "..." + t.slice(-600) : t;
}

/**
 * Turns a failed namespace helper into what failed and the fix for it (see
 * namespace-diagnosis.ts), since `unshare`'s raw message names no fix.
 */
export function namespaceFailure(stderr: string, doing: string): TbuildError | undefined {
  // unshare could not start the program it was given: say which package has it.
  const missing = /^unshare: failed to execute (\S+): No such file or directory/m.exec(stderr)?.[1];
  if (missing !== undefined) return new TbuildError("unavailable", `${doing}: cannot run ${missing}: it is not installed`, { hint: installHint(missing) });
  const d = diagnoseNamespaces(stderr, isPrivileged());
  return d === undefined ? undefined : new TbuildError(d.category, `${doing}: ${d.message}: ${tail(stderr)}`, { hint: d.hint });
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a short command through the namespace helper and collects its output. A
 * non-zero exit becomes a TbuildError saying what we were doing and what it printed.
 */
export async function nsRun(cmd: string, args: readonly string[], doing: string, o: NsOptions & { input?: string | Buffer; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const child = nsSpawn(cmd, args, { ...o, stdio: [o.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (c: Buffer) => out.push(c));
  child.stderr?.on("data", (c: Buffer) => err.push(c));
  child.stdin?.on("error", () => undefined);
  if (o.input !== undefined) child.stdin?.end(o.input);
  const { code } = await waitExit(child, { doing, drainMs: 2000, ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) }).catch((e: unknown) => {
    if (isTbuildError(e)) throw e;
    // The program that failed to start may be unshare rather than cmd.
    throw missingTool((e as NodeJS.ErrnoException).path ?? cmd, doing, e as Error);
  });
  const stdout = Buffer.concat(out).toString("utf8");
  const stderr = Buffer.concat(err).toString("utf8");
  if (code === 0) return { stdout, stderr };
  throw namespaceFailure(stderr, doing) ?? new TbuildError("internal", `${doing}: ${cmd} failed (exit ${code}): ${tail(stderr)}`);
}

const namespaceChecks = new Map<boolean, Promise<unknown>>();

/**
 * For a non-root caller: whether the user namespace every snapshot operation needs
 * (and for RUN, the pid namespace with its own /proc) can be made here, asked once per
 * process with a timeout; rejects with what failed and the fix. Nothing to ask as root.
 */
export async function checkUserNamespaces(o: { forRun: boolean }): Promise<void> {
  if (isPrivileged()) return;
  let check = namespaceChecks.get(o.forRun);
  if (check === undefined) {
    check = nsRun("true", [], o.forRun ? "making the namespaces for RUN" : "making a user namespace", { timeoutMs: 60_000, mount: o.forRun, pid: o.forRun });
    namespaceChecks.set(o.forRun, check);
  }
  await check;
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

