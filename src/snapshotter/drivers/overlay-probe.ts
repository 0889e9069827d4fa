/** Whether overlayfs mounts here, for this user: the overlay driver's precondition. */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { release } from "node:os";
import { join } from "node:path";
import { ownerTag } from "../../pid.js";
import { inUserNamespace, isPrivileged, nsRun, removeOwnedTree } from "../../userns/namespace.js";

const probes = new Map<string, Promise<boolean>>();

/**
 * Whether overlay can be mounted under `root` by this user, found by mounting one
 * (lowerdirs, upperdir, whiteout by deleting a lower file) in a private mount namespace.
 * The answer is cached per process and in `<root>/overlay-probe.json` for this kernel.
 */
export function overlaySupported(root: string): Promise<boolean> {
  let p = probes.get(root);
  if (p === undefined) {
    p = probe(root);
    probes.set(root, p);
  }
  return p;
}

async function probe(root: string): Promise<boolean> {
  const who = isPrivileged() && !inUserNamespace() ? "root" : "userns";
  const cacheFile = join(root, "overlay-probe.json");
  const cached = await readFile(cacheFile, "utf8").then((t) => JSON.parse(t) as { kernel: string; who: string; ok: boolean }, () => undefined);
  if (cached !== undefined && cached.kernel === release() && cached.who === who) return cached.ok;
  await mkdir(join(root, "tmp"), { recursive: true });
  const dir = join(root, "tmp", `probe-${ownerTag()}-${randomBytes(6).toString("hex")}`);
  let ok = false;
  try {
    for (const d of ["l1", "l2", "u", "w", "m"]) await mkdir(join(dir, d), { recursive: true });
    await writeFile(join(dir, "l1", "f"), "x");
    const opts = `lowerdir=${dir}/l2:${dir}/l1,upperdir=${dir}/u,workdir=${dir}/w${who === "userns" ? ",userxattr" : ""}`;
    await nsRun("sh", ["-c", 'mount -t overlay overlay -o "$1" "$2" && rm "$2/f" && umount "$2"', "probe", opts, `${dir}/m`], "probing overlay", { mount: true });
    ok = true;
  } catch {
    ok = false;
  } finally {
    await removeOwnedTree(dir).catch(() => undefined);
  }
  await writeFile(cacheFile, JSON.stringify({ kernel: release(), who, ok })).catch(() => undefined);
  return ok;
}

