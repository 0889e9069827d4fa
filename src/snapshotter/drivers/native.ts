/**
 * The native driver: every snapshot is a whole tree. An active snapshot starts as a copy
 * of its parent (cp -a, reflinked where the filesystem can), a view is the committed
 * parent's tree itself bound read-only, and changes are found by comparing with the parent.
 * It works wherever overlay cannot be mounted.
 */
import { mkdir } from "node:fs/promises";
import { nativeChanges } from "../changes.js";
import { nsRun } from "../../userns/namespace.js";
import type { Mount, SnapshotDriver, TreeLayers } from "./driver.js";

export const nativeDriver: SnapshotDriver = {
  name: "native",
  usable: async () => true,
  unusable: () => ({ message: "the native snapshotter cannot be used here", hint: "check that the store's directory is writable" }),
  tracking: "compare",
  whiteouts: "remove",

  async create(kind, dirs, chain, doing) {
    const below = chain[0];
    if (below !== undefined && kind === "active") {
      // Ownership, modes, xattrs and hard links must survive, so cp -a (inside the namespace when unprivileged).
      await nsRun("cp", ["-a", "--reflink=auto", below, dirs.fs], doing);
    } else {
      await mkdir(dirs.fs, { mode: 0o755 });
    }
  },

  mounts(kind, dirs, chain): Mount[] {
    const ro = kind === "view";
    // A view is its parent's tree itself, read-only: no copy, and paths read from it
    // stay valid as long as the committed parent does (COPY --from reads them later).
    const source = ro && chain[0] !== undefined ? chain[0] : dirs.fs;
    return [{ type: "bind", source, options: [ro ? "ro" : "rw", "rbind"] }];
  },

  applyLowers() {
    // The tree already holds everything below: a layer is checked against itself.
    return [];
  },

  changes(upper, lowers) {
    return nativeChanges(lowers[0], upper);
  },

  layersOf(mounts): TreeLayers {
    const m = mounts[0];
    if (m === undefined) return { layers: [] };
    return { layers: [m.source], ...(m.options.includes("ro") ? {} : { writable: m.source }) };
  },
};
