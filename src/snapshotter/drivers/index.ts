/** The driver registry: the one place a driver is chosen, by name or by what works here. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TbuildError } from "../../errors.js";
import type { Driver, SnapshotDriver } from "./driver.js";
import { nativeDriver } from "./native.js";
import { overlayDriver } from "./overlay.js";

/** In order of preference: "auto" takes the first usable one. */
const drivers: Readonly<Record<Driver, SnapshotDriver>> = { overlay: overlayDriver, native: nativeDriver };

export const driverNames = Object.keys(drivers) as Driver[];

export function isDriver(name: string): name is Driver {
  return Object.hasOwn(drivers, name);
}

export function snapshotDriver(name: Driver): SnapshotDriver {
  if (!isDriver(name)) throw new TbuildError("invalid-argument", `unknown snapshotter '${String(name)}': choose ${driverNames.join(", ")} or auto`);
  return drivers[name];
}

/**
 * The driver a snapshotter at `root` uses, without opening it: the one recorded there,
 * else the one asked for, else ("auto") the first usable here (overlay if it mounts).
 * `recorded` says whether the root already holds snapshots of that driver.
 */
export async function chooseDriver(root: string, asked: Driver | "auto" = "auto"): Promise<{ driver: Driver; recorded: boolean }> {
  // Drivers keep committed snapshots differently (one layer each, or whole trees): a
  // root made by one cannot serve another, so it records its driver.
  const recorded = await recordedDriver(root);
  const wanted = asked === "auto" ? (recorded ?? "auto") : asked;
  if (recorded !== undefined && wanted !== recorded) {
    throw new TbuildError("failed-precondition", `${root} holds snapshots made by the ${recorded} snapshotter, not ${wanted}`, {
      hint: `use --snapshotter ${recorded}, or another --root`,
    });
  }
  if (wanted !== "auto") {
    const d = snapshotDriver(wanted);
    if (!(await d.usable(root))) {
      const { message, hint } = d.unusable(root);
      throw new TbuildError("failed-precondition", message, { hint });
    }
    return { driver: wanted, recorded: recorded !== undefined };
  }
  for (const d of Object.values(drivers)) if (await d.usable(root)) return { driver: d.name, recorded: false };
  throw new TbuildError("failed-precondition", `no snapshotter works under ${root}`, { hint: "use another --root" });
}

/** The driver recorded at `root`, if any (a snapshotter records its driver when first opened). */
export async function recordedDriver(root: string): Promise<Driver | undefined> {
  const name = await readFile(join(root, "driver"), "utf8").then(
    (t) => t.trim(),
    () => undefined,
  );
  return name !== undefined && isDriver(name) ? name : undefined;
}

export { overlaySupported } from "./overlay-probe.js";
export type { Driver, Mount, SnapshotDriver, SnapshotKind, TreeLayers } from "./driver.js";
