/**
 * A store on a small disk (a 50 MB tmpfs), as root and as the rootless test user: a COPY
 * or RUN that fills it fails with a located user error naming the store and the size
 * needed, leaves no lock, working snapshot or partial blob behind, `prune` still runs on
 * the full disk, and once space is freed the next build works at once.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rootlessEnv } from "../setup/rootless.js";
import { spawnAsync } from "../setup/spawn.js";

const isRoot = process.geteuid?.() === 0;
const repo = join(import.meta.dirname, "..", "..");

interface Disk {
  mount: string;
  root: string;
  cli: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  ctx: (files: Record<string, string | Buffer>) => string;
}

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    spawnSync("umount", ["-l", m]);
    rmSync(m, { recursive: true, force: true });
  }
});

/** A 50 MB tmpfs for `user` (root when undefined); the CLI runs as that user. */
function disk(user?: { uid: number; gid: number; app: string; run: NonNullable<ReturnType<typeof rootlessEnv>>["run"] }): Disk {
  const mount = mkdtempSync(join(tmpdir(), "tbuild-tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=50m", "tmpfs", mount], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
  mounts.push(mount);
  const ctxParent = mkdtempSync(join(tmpdir(), "tbuild-ctxs-"));
  if (user !== undefined) {
    chownSync(mount, user.uid, user.gid);
    chownSync(ctxParent, user.uid, user.gid);
  }
  const root = join(mount, "store");
  const cli = async (args: string[]) => {
    const res =
      user === undefined
        ? await spawnAsync(process.execPath, [join(repo, "dist/cli/main.js"), ...args, "--root", root], { timeout: 120_000 })
        : await user.run(process.execPath, [join(user.app, "dist/cli/main.js"), ...args, "--root", root]);
    return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
  };
  const ctx = (files: Record<string, string | Buffer>) => {
    const dir = mkdtempSync(join(ctxParent, "ctx-"));
    copyFileSync("/bin/busybox", join(dir, "busybox"));
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
    if (user !== undefined) for (const f of ["", ...readdirSync(dir)]) chownSync(join(dir, f), user.uid, user.gid);
    return dir;
  };
  return { mount, root, cli, ctx };
}

const BASE = 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';

/** Every file under `dir` whose name ends in .lock (lock files are never left behind). */
function locks(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".lock"));
}

function snapshotState(root: string): { records: Record<string, { kind: string; id: string }>; dirs: string[] } {
  const meta = JSON.parse(readFileSync(join(root, "snapshotter", "metadata.json"), "utf8")) as { snapshots: Record<string, { kind: string; id: string }> };
  return { records: meta.snapshots, dirs: readdirSync(join(root, "snapshotter", "snapshots")).sort() };
}

function scenario(make: () => Disk): void {
  it("a COPY or RUN that fills the disk is a user error naming the store and the size; nothing is left behind; prune runs on the full disk; a freed disk builds at once", async () => {
    const d = make();
    // COPY of 60 MB of incompressible data into a 50 MB disk.
    const big = d.ctx({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\nCOPY big /big\n", big: randomBytes(60_000_000) });
    let r = await d.cli(["build", big]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`Dockerfile:3: the disk under the store \\(${d.root}\\) is full; needed about (5\\d|6\\d) MB\\n`));
    expect(r.stderr).not.toContain("internal error");
    expect(readdirSync(join(d.root, "ingest"))).toEqual([]);
    expect(locks(d.root)).toEqual([]);

    // RUN writing more than the disk holds.
    const fill = d.ctx({ Dockerfile: `${BASE}RUN dd if=/dev/zero of=/fill bs=1M count=100\n` });
    r = await d.cli(["build", fill]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`Dockerfile:4: RUN failed with exit code 1: the disk under the store \\(${d.root}\\) is full; needed about \\d+ MB\\n`));
    const after = snapshotState(d.root);
    expect(Object.values(after.records).filter((s) => s.kind !== "committed")).toEqual([]);
    expect(after.dirs).toEqual(Object.values(after.records).map((s) => s.id).sort());
    expect(locks(d.root)).toEqual([]);

    // The disk full to the last byte, and locks left by processes that died: prune still runs.
    spawnSync("sh", ["-c", `dd if=/dev/zero of=${join(d.mount, "filler")} bs=1M count=100`]);
    writeFileSync(join(d.root, "index.json.lock"), ""); // an old-style lock its writer could not fill
    symlinkSync("localhost-not-this-one 1 1 x", join(d.root, "snapshotter", "metadata.lock.other-host")); // not a lock name: ignored
    symlinkSync(`${readFileSync("/proc/sys/kernel/hostname", "utf8").trim()} 999999999 1 deadbeef`, join(d.root, "snapshotter", "metadata.lock"));
    const started = Date.now();
    r = await d.cli(["prune", "--all"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    rmSync(join(d.root, "snapshotter", "metadata.lock.other-host"));
    expect(locks(d.root)).toEqual([]);

    rmSync(join(d.mount, "filler"));
    const ok = d.ctx({ Dockerfile: `${BASE}RUN echo fine > /ok\n` });
    r = await d.cli(["build", "-t", "ok", ok]);
    expect(r.stderr).not.toContain("tbuild:");
    expect(r.code).toBe(0);
    expect((await d.cli(["images"])).stdout).toMatch(/^ok\s+latest\s/m);
  }, 240_000);
}

describe.skipIf(!isRoot)("a full disk, as root", () => scenario(() => disk()));

const env = rootlessEnv();
describe.skipIf(env === undefined)("a full disk, as a normal user", () => scenario(() => disk(env)));
