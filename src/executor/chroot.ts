/**
 * The chroot executor: RUN for containers that allow no namespaces and no mounts (a CI
 * job's unprivileged container with root inside, Docker's default seccomp profile and
 * capabilities). There the container is the isolation boundary, as with Kaniko: the
 * command runs with chroot(2) in the step's own tree (a native snapshot, a plain
 * directory), as the image's user, with docker's RUN capabilities.
 *
 * With no mounts, what a mount would show is put into the tree for the run and taken
 * out again before the differ compares the tree with its parent: a fresh /dev (the
 * helper mknods the standard nodes), the container's /etc/resolv.conf and /etc/hosts,
 * and the step's --mount sources (a writable cache is moved in and back, anything
 * read-only is copied, a tmpfs is an empty directory). Whatever the image had at those
 * paths is moved aside and back, so none of it reaches the layer.
 */
import { chmod, chown, copyFile, lstat, mkdir, rename, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { spawnGroup, waitExit } from "../child-process.js";
import { errnoCode, TbuildError } from "../errors.js";
import { withFileLock } from "../file-lock.js";
import { nativeHelper } from "../native/binaries.js";
import type { ExecRequest, Executor, PreparedMount, StepFile } from "./executor.js";

/** Files of the container a step sees at the same paths, as under docker build. */
const HOST_FILES = ["/etc/resolv.conf", "/etc/hosts"];

export class ChrootExecutor implements Executor {
  readonly isolation = "chroot";
  private told = false;

  /**
   * `procMissing`: why there is no /proc for the steps here (from the probe), said once
   * through `warn`; undefined when the helper may mount one.
   */
  constructor(private readonly o: { procMissing: string | undefined; warn: (message: string) => void }) {}

  async run(req: ExecRequest): Promise<number> {
    const root = req.rootfs[0];
    if (root === undefined || root.type !== "bind" || req.rootfs.length !== 1) {
      throw new TbuildError("internal", "RUN with --isolation=chroot needs the native snapshotter's plain directories");
    }
    if (req.process.network === "none") {
      throw new TbuildError("failed-precondition", "RUN --network=none needs a network namespace of its own, which this container does not allow (--isolation=chroot)", {
        hint: "drop --network=none here, or build where namespaces are allowed",
      });
    }
    const helper = nativeHelper("tbuild-run-chroot");
    if (this.o.procMissing !== undefined && !this.told) {
      this.told = true;
      this.o.warn(`RUN steps have no /proc here: ${this.o.procMissing}; commands that read /proc (ps, /proc/self/...) fail in them`);
    }
    const locks = req.mounts.filter(movedIn).map((m) => `${m.source}.chroot-lock`);
    return withLocks(locks, async () => {
      const tree = new StagedTree(root.source);
      try {
        await stage(tree, req.mounts, req.files);
        const p = req.process;
        const argv = [root.source, p.cwd, String(p.uid), String(p.gid), String(p.env.length), ...p.env, "--", ...p.argv];
        const child = spawnGroup(helper, argv, { stdio: ["ignore", "pipe", "pipe"], env: {} }, "supervisor");
        child.stdout?.on("data", (c: Buffer) => req.onOutput("stdout", c));
        child.stderr?.on("data", (c: Buffer) => req.onOutput("stderr", c));
        const exit = await waitExit(child, { doing: "RUN", drainMs: 2000, ...(req.signal === undefined ? {} : { signal: req.signal }) });
        return exit.code ?? 128 + (exit.signal === null ? 0 : osConstants.signals[exit.signal]);
      } finally {
        await tree.restore();
      }
    });
  }
}

/** A writable directory mount (a cache): moved into the tree and back, one step at a time. */
function movedIn(m: PreparedMount): boolean {
  return m.kind === "dir" && !m.options.includes("ro");
}

async function withLocks<T>(locks: string[], fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = [...new Set(locks)].sort();
  if (first === undefined) return fn();
  return withFileLock(first, () => withLocks(rest, fn), { timeoutMs: 3_600_000 });
}

/**
 * Puts /dev, the container's resolv.conf and hosts, the step's files (secrets, a heredoc
 * script, /etc/hostname; the container's resolv.conf and hosts win over the step's, as
 * the step shares the container's network) and the step's mounts into the tree.
 */
async function stage(tree: StagedTree, mounts: PreparedMount[], files: StepFile[]): Promise<void> {
  await tree.place("/dev", async (dev) => {
    // The helper mknods null, zero, full, random, urandom and tty here.
    await mkdir(dev, { mode: 0o755 });
    await mkdir(path.join(dev, "shm"), { mode: 0o1777 });
    await chmod(path.join(dev, "shm"), 0o1777);
    await mkdir(path.join(dev, "pts"), { mode: 0o755 });
    await symlink("/proc/self/fd", path.join(dev, "fd"));
    for (const [i, name] of ["stdin", "stdout", "stderr"].entries()) await symlink(`/proc/self/fd/${i}`, path.join(dev, name));
  });
  await tree.ensureDir("/proc");
  const containerFiles = new Set<string>();
  for (const file of HOST_FILES) {
    if (await lstat(file).then((st) => st.isFile(), () => false)) {
      containerFiles.add(file);
      await tree.place(file, async (to) => {
        await copyFile(file, to);
        await chmod(to, 0o644);
      });
    }
  }
  for (const f of files) {
    if (containerFiles.has(f.target)) continue;
    await tree.place(f.target, async (to) => {
      await writeFile(to, f.data, { mode: 0o600, flag: "wx" });
      await chown(to, f.uid, f.gid);
      await chmod(to, f.mode);
    });
  }
  for (const m of mounts) await placeMount(tree, m);
}

async function placeMount(tree: StagedTree, m: PreparedMount): Promise<void> {
  const chownTo = m.options.find((o) => o.startsWith("chown="))?.slice("chown=".length);
  const owner = chownTo === undefined ? undefined : chownTo.split(":").map(Number);
  if (owner !== undefined) await chown(m.source, owner[0]!, owner[1]!);
  if (m.kind === "tmpfs") {
    return tree.place(m.target, async (to) => {
      await mkdir(to);
      await chmod(to, 0o1777);
    });
  }
  if (m.kind === "file") return tree.place(m.target, (to) => copyFile(m.source, to));
  if (movedIn(m)) {
    return tree.place(
      m.target,
      (to) => moveTree(m.source, to, m.target),
      (from) => moveTree(from, m.source, m.target),
    );
  }
  let source = m.source;
  if (m.kind === "overlay") {
    const lowers = m.options.find((o) => o.startsWith("lowerdir="))?.slice("lowerdir=".length).split(":") ?? [];
    if (lowers.length !== 1) {
      throw new TbuildError("not-implemented", `RUN --mount target ${m.target}: a mount of several layers needs overlayfs, which --isolation=chroot does not use`);
    }
    source = path.join(lowers[0]!, m.subpath);
  }
  return tree.place(m.target, (to) => copyTree(source, to));
}

async function moveTree(from: string, to: string, target: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    if (errnoCode(e) !== "EXDEV") throw e;
    throw new TbuildError("failed-precondition", `RUN --mount target ${target}: the cache directory and the snapshots are on different filesystems, which --isolation=chroot needs on one`, {
      hint: "keep tbuild's --root on one filesystem",
    });
  }
}

/** cp -a: owners, modes, links and xattrs as they are (a read-only mount's content, as a private copy). */
async function copyTree(from: string, to: string): Promise<void> {
  const child = spawnGroup("cp", ["-a", "--reflink=auto", "--", from, to], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err = (err + c.toString("utf8")).slice(-600)));
  const exit = await waitExit(child, { doing: `copying ${from} into the step`, drainMs: 1000 });
  if (exit.code !== 0) throw new TbuildError("internal", `RUN: copying ${from} into the step failed: ${err.trim()}`);
}

/** Sets a directory's mtime to the nanosecond (Node's utimes rounds to a double). */
async function setMtime(dir: string, mtimeNs: bigint): Promise<void> {
  const stamp = `@${mtimeNs / 1_000_000_000n}.${String(mtimeNs % 1_000_000_000n).padStart(9, "0")}`;
  const child = spawnGroup("touch", ["-h", "-m", "-d", stamp, "--", dir], { stdio: ["ignore", "ignore", "ignore"] });
  const exit = await waitExit(child, { doing: `restoring the mtime of ${dir}`, timeoutMs: 10_000 });
  if (exit.code !== 0) throw new TbuildError("internal", `RUN: cannot restore the mtime of ${dir}`);
}

/**
 * The step's tree with things put in for one run. Every path is reached through real
 * directories only (never a symlink the image or the command made, which could lead
 * out of the tree), and every change is undone in reverse order.
 */
class StagedTree {
  private readonly undo: (() => Promise<void>)[] = [];
  private asides = 0;
  /** Directories whose entries change, with their mtime before: put back, or every layer would list them. */
  private readonly mtimes = new Map<string, bigint>();

  constructor(readonly root: string) {}

  /** The host path of `target`'s parent, when every component is a real directory; missing ones are created (and removed afterwards) when `create`. */
  private async parent(target: string, create: boolean): Promise<string | undefined> {
    let p = this.root;
    for (const c of target.split("/").filter((x) => x !== "").slice(0, -1)) {
      p = path.join(p, c);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined && create) {
        await this.touching(path.dirname(p));
        await mkdir(p, { mode: 0o755 });
        const made = p;
        this.undo.push(() => rmdir(made).catch(() => undefined));
      } else if (st === undefined || !st.isDirectory()) return undefined;
    }
    return p;
  }

  /** Creates directory `target` if the image lacks it (the builder removes such stubs after the step). */
  async ensureDir(target: string): Promise<void> {
    const parent = await this.parent(target, false);
    if (parent === undefined) return;
    const dir = path.join(parent, path.posix.basename(target));
    if ((await lstat(dir).catch(() => undefined)) !== undefined) return;
    await this.touching(parent);
    await mkdir(dir);
    this.undo.push(() => rmdir(dir).catch(() => undefined));
  }

  private async touching(dir: string): Promise<void> {
    if (this.mtimes.has(dir)) return;
    const st = await lstat(dir, { bigint: true });
    this.mtimes.set(dir, st.mtimeNs);
  }

  /**
   * Puts something at `target` with `make`; afterwards `take` takes it out again (by
   * default it is deleted) and what the image had there is put back.
   */
  async place(target: string, make: (to: string) => Promise<void>, take?: (from: string) => Promise<void>): Promise<void> {
    const parent = await this.parent(target, true);
    if (parent === undefined) {
      throw new TbuildError("invalid-argument", `RUN: cannot provide ${target} in the step: a directory above it in the image is a symlink or a file`, {
        hint: "mount somewhere that is a plain directory in the image",
      });
    }
    const name = path.posix.basename(target);
    const at = path.join(parent, name);
    await this.touching(parent);
    let aside: string | undefined;
    if ((await lstat(at).catch(() => undefined)) !== undefined) {
      // Next to the tree, so on its filesystem, and removed with the snapshot if tbuild dies.
      aside = `${this.root}.aside-${this.asides++}`;
      await rename(at, aside);
    }
    this.undo.push(async () => {
      // Found again through real directories only: the command may have swapped one for a symlink.
      const now = await this.parent(target, false);
      if (now === undefined) {
        if (aside !== undefined) await rm(aside, { recursive: true, force: true });
        return;
      }
      const there = path.join(now, name);
      if (take !== undefined && (await lstat(there).catch(() => undefined))?.isDirectory()) await take(there);
      else await rm(there, { recursive: true, force: true });
      if (aside !== undefined) await rename(aside, there);
    });
    await make(at);
  }

  /** Undoes every change, newest first; the first failure is reported after all were tried. */
  async restore(): Promise<void> {
    let first: unknown;
    for (const step of this.undo.reverse()) {
      try {
        await step();
      } catch (e) {
        first ??= e;
      }
    }
    this.undo.length = 0;
    for (const [dir, mtimeNs] of this.mtimes) {
      const st = await lstat(dir, { bigint: true }).catch(() => undefined);
      if (st?.isDirectory() && st.mtimeNs !== mtimeNs) await setMtime(dir, mtimeNs).catch((e: unknown) => (first ??= e));
    }
    this.mtimes.clear();
    if (first !== undefined) throw first;
  }
}
