/**
 * A real Debian root filesystem for tests, as official images are: made by debootstrap
 * (bookworm, minbase, merged /usr), with no /etc/resolv.conf and no /etc/hosts, packed as
 * one tar that a Dockerfile ADDs onto scratch. Made once per machine and kept in /var/tmp
 * (a few minutes and ~40 MB from Debian's mirror the first time).
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const CACHED = "/var/tmp/tbuild-test-bookworm-minbase.tar";

/** The mirror this machine's apt uses, so the test reaches Debian the way the machine does. */
function mirror(): string {
  try {
    const uri = /^URIs:\s*(\S+)/m.exec(readFileSync("/etc/apt/sources.list.d/debian.sources", "utf8"))?.[1];
    if (uri !== undefined) return uri;
  } catch {
    // no deb822 sources: the default mirror
  }
  return "http://deb.debian.org/debian";
}

export async function debianRootfsTar(): Promise<string> {
  if (existsSync(CACHED)) return CACHED;
  const dir = mkdtempSync("/var/tmp/tbuild-debootstrap-");
  // On a tmpfs of its own: debootstrap writes to device nodes it makes, which a nodev
  // filesystem refuses (a sandbox's bind-mounted root, such as the fresh-machine check's).
  await run("mount", ["-t", "tmpfs", "-o", "mode=0755", "tbuild-debootstrap", dir]);
  try {
    await run("debootstrap", ["--variant=minbase", "bookworm", join(dir, "rootfs"), mirror()], { maxBuffer: 64 * 1024 * 1024 });
    const partial = `${CACHED}.${process.pid}.tmp`;
    await run("tar", ["-C", join(dir, "rootfs"), "--exclude=./etc/resolv.conf", "--exclude=./etc/hosts", "-cf", partial, "."]);
    renameSync(partial, CACHED);
    return CACHED;
  } finally {
    await run("umount", [dir]).catch(() => run("umount", ["-l", dir]));
    rmSync(dir, { recursive: true, force: true });
  }
}
