/**
 * The overlay driver: each committed snapshot is one layer's own directory (whiteouts as
 * 0/0 character devices, opaque directories by xattr), stacked as overlay lowerdirs; an
 * active snapshot is an upperdir + workdir, and its changes are read from the upperdir.
 */
import { mkdir } from "node:fs/promises";
import { overlayChanges } from "../changes.js";
import { overlayMountOptions } from "../../userns/namespace.js";
import { overlaySupported } from "./overlay-probe.js";
import type { Mount, SnapshotDriver, TreeLayers } from "./driver.js";

function bind(source: string, ro: boolean): Mount[] {
  return [{ type: "bind", source, options: [ro ? "ro" : "rw", "rbind"] }];
}

export const overlayDriver: SnapshotDriver = {
  name: "overlay",
  usable: overlaySupported,
  unusable: (root) => ({
    message: `overlay cannot be mounted under ${root} on this machine`,
    hint: "use --snapshotter native (slower, copies each layer) or run where overlayfs in user namespaces is allowed (kernel >= 5.11)",
  }),
  tracking: "upper",
  whiteouts: "overlay",

  async create(kind, dirs) {
    await mkdir(dirs.fs, { mode: 0o755 });
    if (kind === "active") await mkdir(dirs.work);
  },

  mounts(kind, dirs, chain) {
    const ro = kind === "view";
    if (chain.length === 0) return bind(dirs.fs, ro);
    const lowerdir = `lowerdir=${chain.join(":")}`;
    const userxattr = overlayMountOptions();
    if (ro) {
      // overlay needs two lowers to mount without an upper; one parent is just a read-only bind.
      if (chain.length === 1) return bind(chain[0]!, true);
      return [{ type: "overlay", source: "overlay", options: [lowerdir, ...userxattr] }];
    }
    return [{ type: "overlay", source: "overlay", options: [lowerdir, `upperdir=${dirs.fs}`, `workdir=${dirs.work}`, ...userxattr] }];
  },

  applyLowers(_tree, chain) {
    return [...chain];
  },

  changes(upper, lowers) {
    return overlayChanges(upper, lowers);
  },

  layersOf(mounts): TreeLayers {
    const m = mounts[0];
    if (m === undefined) return { layers: [] };
    if (m.type === "bind") return { layers: [m.source], ...(m.options.includes("ro") ? {} : { writable: m.source }) };
    const option = (name: string): string | undefined => m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);
    const upper = option("upperdir");
    const lowers = (option("lowerdir") ?? "").split(":").filter((d) => d !== "");
    return { layers: [...(upper === undefined ? [] : [upper]), ...lowers], ...(upper === undefined ? {} : { writable: upper }) };
  },
};
