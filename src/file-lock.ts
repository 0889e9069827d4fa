import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { TbuildError, errnoCode, ioError } from "./errors.js";
import { pidAlive } from "./pid.js";

/**
 * Runs `fn` holding an exclusive lock file, so several tbuild processes can share one
 * store root. The file is created with O_EXCL and holds "host pid token". A lock whose
 * pid is gone (same host) is stale and is broken; on another host we wait for it, or for
 * it to become older than `staleMs`, since we cannot see that host's processes.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: { timeoutMs?: number; staleMs?: number } = {}): Promise<T> {
  const token = `${hostname()} ${process.pid} ${randomBytes(8).toString("hex")}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let delay = 2;
  for (;;) {
    if (await tryCreate(lockPath, token)) break;
    if (await breakIfStale(lockPath, opts.staleMs ?? 10 * 60_000)) continue;
    if (Date.now() > deadline) {
      const holder = await readFile(lockPath, "utf8").catch(() => "unknown");
      throw new TbuildError("unavailable", `timed out waiting for the lock ${lockPath} (held by ${describeHolder(holder)})`, {
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
    const current = await readFile(lockPath, "utf8").catch(() => undefined);
    if (current === token) await unlink(lockPath).catch(() => undefined);
  }
}

async function tryCreate(lockPath: string, token: string): Promise<boolean> {
  try {
    const fh = await open(lockPath, "wx", 0o644);
    try {
      await fh.writeFile(token);
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if (errnoCode(e) === "EEXIST") return false;
    throw ioError(e, `cannot create lock file ${lockPath}`, "check that the store directory is writable, or choose another with --root or TBUILD_ROOT");
  }
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  const content = await readFile(lockPath, "utf8").catch(() => undefined);
  if (content === undefined) return true; // released between our attempts
  const [host, pidText] = content.split(" ");
  const pid = Number(pidText);
  const st = await stat(lockPath).catch(() => undefined);
  if (st === undefined) return true;
  // A writer may not have filled the file yet: an empty lock is only stale when old.
  const sameHostDead = host === hostname() && Number.isInteger(pid) && pid > 0 && !pidAlive(pid);
  if (!sameHostDead && Date.now() - st.mtimeMs < staleMs) return false;
  // Move the lock aside, then check we moved the stale one and not a fresh lock taken
  // since we read it; if it was fresh, put it back (link fails if yet another exists).
  const aside = `${lockPath}.${process.pid}-${randomBytes(4).toString("hex")}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return true;
  }
  const moved = await readFile(aside, "utf8").catch(() => undefined);
  if (moved !== content) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return true;
}

function describeHolder(content: string): string {
  const [host, pid] = content.split(" ");
  return pid !== undefined ? `pid ${pid} on ${host}` : "an unknown process";
}
