/**
 * type=local: the image's root filesystem, flattened, written into a directory (BuildKit's
 * `--output type=local,dest=DIR`; with splitPlatforms, one per platform in os_arch/). Layers are applied in order with OCI whiteout
 * semantics by the snapshotter's applier, which never writes outside its target.
 *
 * The tree is built in a staging directory inside DIR and then moved into place, merging
 * with what DIR already holds as `docker build -o` does: same-named files are replaced,
 * other files are left alone. A whiteout therefore only ever deletes what an earlier layer
 * of this image made, never a file the user had in DIR.
 *
 * Ownership: as root, files keep the image's owners. As a normal user they cannot (the
 * host has no such users for us to chown to), so, as docker does for a rootless build,
 * every file is owned by the user who ran the export; modes, including setuid and setgid
 * bits, are kept.
 */
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, rename, rm, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";

import { TbuildError, errnoCode, ioError } from "../../errors.js";
import type { Descriptor } from "../../oci/schemas.js";
import { isPrivileged, nsRun, removeOwnedTree } from "../../userns/namespace.js";
import type { ImageStore, ResolvedImage } from "../image-store.js";
import { unpackPlatformTrees } from "./platform-trees.js";
import type { Exporter, ExportOptions, ExportResult } from "./types.js";

export const localExporter: Exporter = {
  type: "local",
  async export(store: ImageStore, image: ResolvedImage, opts: ExportOptions): Promise<ExportResult> {
    if (opts.dest === "-") {
      throw new TbuildError("invalid-argument", "type=local writes a directory, not a stream", { hint: "name the directory: --output type=local,dest=DIR or -o DIR" });
    }
    const dest = resolve(opts.dest);
    const staging = await makeStaging(dest);
    let warnings: string[];
    try {
      warnings = await unpackPlatformTrees(store, image, opts.splitPlatforms === true, staging);
      if (!isPrivileged()) await ownByUser(staging);
      await merge(staging, dest);
    } finally {
      await removeOwnedTree(staging);
    }
    const { annotations: _a, ...descriptor }: Descriptor = image.manifestDescriptor;
    return { descriptor, dest, warnings };
  },
};

async function makeStaging(dest: string): Promise<string> {
  try {
    await mkdir(dest, { recursive: true });
    return await mkdtemp(join(dest, ".tbuild-export-"));
  } catch (e) {
    const code = errnoCode(e);
    if (code === "EEXIST" || code === "ENOTDIR") {
      throw new TbuildError("failed-precondition", `cannot export to ${dest}: it is not a directory`, { hint: "choose a directory (it is created if missing)" });
    }
    throw ioError(e, `creating ${dest}`);
  }
}

/**
 * Gives every file to the user (namespace root is the user on the host). chown clears
 * setuid and setgid bits, so those files are listed first and their modes restored.
 */
async function ownByUser(tree: string): Promise<void> {
  const special = await nsRun("find", [tree, "-type", "f", "-perm", "/6000", "-printf", "%m %p\\0"], `listing setuid files in ${tree}`);
  await nsRun("chown", ["-R", "-h", "0:0", "--", tree], `giving ${tree} to this user`);
  for (const line of special.stdout.split("\0").filter((l) => l !== "")) {
    const space = line.indexOf(" ");
    await chmod(line.slice(space + 1), parseInt(line.slice(0, space), 8));
  }
}

/**
 * Moves the entries of `from` into `to`. Paths in `to` are examined with lstat and only
 * real directories are descended into, so a symlink already in DIR is replaced, never
 * followed out of it.
 */
async function merge(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const s = await lstat(src);
    const d = await lstat(dst).catch(() => undefined);
    try {
      if (s.isDirectory() && d?.isDirectory() === true) {
        await merge(src, dst);
        if (isPrivileged()) await lchown(dst, s.uid, s.gid);
        await chmod(dst, s.mode & 0o7777);
        await utimes(dst, s.atime, s.mtime);
        continue;
      }
      if (d !== undefined) await rm(dst, { recursive: true, force: true });
      await rename(src, dst);
    } catch (e) {
      throw ioError(e, `writing ${dst}`);
    }
  }
}

