import { randomBytes } from "node:crypto";
import { link, lstat, readFile, readlink, rename, symlink, unlink } from "node:fs/promises";
import { TbuildError, errnoCode, ioError } from "./errors.js";
import { ownerAlive, selfOwner, type Owner } from "./pid.js";

/**
 * Runs `fn` holding an exclusive lock, so several tbuild processes can share one store
 * root. The lock is a symlink whose target is "host pid start token": symlink(2) creates
 * it with its content in one step, so there is never an empty lock of unknown owner, and
 * a short target needs no data block, so locks still work on a full disk (where `prune`
 * must run to free it). A lock whose owner is dead (same host; pid gone, or reused by a
 * process that started at another time) is broken at once; on another host we wait for
 * it, or for it to become older than `staleMs`, since we cannot see that host's processes.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: { timeoutMs?: number; staleMs?: number } = {}): Promise<T> {
  const me = selfOwner();
  const token = `${me.host} ${me.pid} ${me.start || "-"} ${randomBytes(8).toString("hex")}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let delay = 2;
  for (;;) {
    if (await tryCreate(lockPath, token)) break;
    if (await breakIfStale(lockPath, opts.staleMs ?? 10 * 60_000)) continue;
    if (Date.now() > deadline) {
      const holder = await readLock(lockPath);
      throw new TbuildError("unavailable", `timed out waiting for the lock ${lockPath} (held by ${describeHolder(holder ?? "")})`, {
        hint: "another tbuild process is using this store; if none is running, delete the lock file",
      });
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 100);
  }
  try {
    return await fn();
  } finally {
    // Only remove the lock if it is still ours (it could have been broken as stale).
    if ((await readLock(lockPath)) === token) await unlink(lockPath).catch(() => undefined);
  }
}

async function tryCreate(lockPath: string, token: string): Promise<boolean> {
  try {
    await symlink(token, lockPath);
    return true;
  } catch (e) {
    if (errnoCode(e) === "EEXIST") return false;
    throw ioError(e, `cannot create lock file ${lockPath}`, "check that the store directory is writable, or choose another with --root or TBUILD_ROOT");
  }
}

/** The lock's owner text; a regular file is a lock of an older tbuild ("host pid token"). */
async function readLock(lockPath: string): Promise<string | undefined> {
  try {
    return await readlink(lockPath);
  } catch (e) {
    if (errnoCode(e) !== "EINVAL") return undefined;
    return readFile(lockPath, "utf8").catch(() => undefined);
  }
}

function holderOf(content: string): Owner | undefined {
  const [host, pidText, start] = content.split(" ");
  const pid = Number(pidText);
  if (host === undefined || host === "" || !Number.isInteger(pid) || pid <= 0) return undefined;
  // Old-style locks have a token where the start time is: the pid alone decides.
  return { host, pid, start: start !== undefined && /^\d+$/.test(start) ? start : "" };
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  const content = await readLock(lockPath);
  if (content === undefined) return true; // released between our attempts
  const st = await lstat(lockPath).catch(() => undefined);
  if (st === undefined) return true;
  const holder = holderOf(content);
  // No owner at all: an old-style lock file its writer could not fill (full disk).
  const alive = holder === undefined ? false : ownerAlive(holder);
  if (alive === true || (alive === undefined && Date.now() - st.mtimeMs < staleMs)) return false;
  // Move the lock aside, then check we moved the stale one and not a fresh lock taken
  // since we read it; if it was fresh, put it back (link fails if yet another exists).
  const aside = `${lockPath}.${process.pid}-${randomBytes(4).toString("hex")}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return true;
  }
  const moved = await readLock(aside);
  if (moved !== content) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return true;
}

function describeHolder(content: string): string {
  const holder = holderOf(content);
  return holder !== undefined ? `pid ${holder.pid} on ${holder.host}` : "an unknown process";
}
