/**
 * A real non-root user for rootless tests. When the tests run as root (CI does), this
 * creates `tbuildtest` with a home directory and a subordinate id range, idempotently,
 * and runs commands as that user with `runuser`. When the tests already run as a normal
 * user, `rootlessEnv()` returns undefined and the rootless tests are skipped (the
 * ordinary tests then are the rootless ones).
 *
 * The checkout may live where the test user cannot read it (CI checks out under /root,
 * mode 0700). Rather than loosen permissions on someone else's directories, we copy
 * `dist/`, `node_modules/` and `package.json` once into a fresh directory under the
 * system temp dir that the test user can read, and run scripts from there.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, chownSync, cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spawnAsync, type SpawnResult } from "./spawn.js";

export const TEST_USER = "tbuildtest";

/** Gives a whole tree (a context, a store's parent) to the test user, without following symlinks. */
export function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (lstatSync(p).isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}
const SUB_RANGE = "200000:65536";

export interface RootlessEnv {
  uid: number;
  gid: number;
  /** Directory holding dist/, node_modules/ and package.json, readable by the test user. */
  app: string;
  /** Runs a command as the test user (asynchronously: see spawn.ts). */
  run(cmd: string, args: string[], opts?: { cwd?: string; input?: string }): Promise<SpawnResult>;
  /** A fresh directory owned by the test user. */
  workDir(): string;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout.trim();
}

function ensureSubRange(file: string): void {
  const lines = readFileSync(file, { encoding: "utf8", flag: "a+" }).split("\n");
  if (!lines.some((l) => l.startsWith(`${TEST_USER}:`))) appendFileSync(file, `${TEST_USER}:${SUB_RANGE}\n`);
}

let cached: RootlessEnv | undefined;

/**
 * Under no_new_privs (bubblewrap sets it, so do some sandboxes) the setuid newuidmap cannot
 * map a subordinate range for anyone: rootless builds cannot work there, so their tests are
 * skipped, saying why, rather than failing on the environment.
 */
function noNewPrivileges(): boolean {
  const set = /^NoNewPrivs:\s*1$/m.test(readFileSync("/proc/self/status", "utf8"));
  if (set) console.warn("test setup: no_new_privs is set for this process tree; the setuid newuidmap cannot work, so the rootless tests are skipped");
  return set;
}

export function rootlessEnv(): RootlessEnv | undefined {
  if (process.geteuid?.() !== 0) return undefined;
  if (cached !== undefined) return cached;
  // A root directory of mode 0700 (a root filesystem unpacked from a tarball made of a
  // mktemp directory, as some throwaway machines are) lets no other user run anything at
  // all. Every Debian root is 0755; give this one the same, as the user setup below would
  // otherwise fail with "runuser: failed to execute env: Permission denied".
  if ((statSync("/").mode & 0o005) !== 0o005) {
    console.warn("test setup: / was not readable and searchable by other users; setting it to 0755 as Debian's is");
    chmodSync("/", 0o755);
  }
  if (spawnSync("id", ["-u", TEST_USER]).status !== 0) sh("useradd", ["--create-home", "--shell", "/bin/sh", TEST_USER]);
  ensureSubRange("/etc/subuid");
  ensureSubRange("/etc/subgid");
  if (noNewPrivileges()) return undefined;
  const uid = Number(sh("id", ["-u", TEST_USER]));
  const gid = Number(sh("id", ["-g", TEST_USER]));

  const repo = resolve(import.meta.dirname, "../..");
  const app = mkdtempSync(join(tmpdir(), "tbuild-rootless-app-"));
  for (const part of ["dist", "node_modules", "package.json"]) cpSync(join(repo, part), join(app, part), { recursive: true });
  chmodSync(app, 0o755);
  process.on("exit", () => rmSync(app, { recursive: true, force: true }));

  const run: RootlessEnv["run"] = (cmd, args, opts = {}) =>
    spawnAsync("runuser", ["-u", TEST_USER, "--", "env", `HOME=/home/${TEST_USER}`, cmd, ...args], {
      cwd: opts.cwd ?? "/",
      input: opts.input,
      timeout: 120_000,
    });
  const workDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), "tbuild-rootless-"));
    chownSync(d, uid, gid);
    return d;
  };
  cached = { uid, gid, app, run, workDir };
  return cached;
}
