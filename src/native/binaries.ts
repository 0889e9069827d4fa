/**
 * Where tbuild's compiled helpers are: dist/native/linux-ARCH/NAME, static binaries that
 * `npm run build` compiles for this machine and the npm package ships prebuilt for
 * every CPU in scripts/build-native.mjs, so installing tbuild needs no compiler.
 */
import { constants, accessSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TbuildError } from "../errors.js";

export type NativeHelper = "tbuild-run-init" | "tbuild-run-chroot" | "tbuild-xattrs";

/** The CPUs the npm package ships helpers for (scripts/build-native.mjs compiles them). */
const SHIPPED = ["x64", "arm64"];

const found = new Map<NativeHelper, string>();

/**
 * The path of helper `name` for this machine's CPU, or a TbuildError saying why there
 * is none and how to get one. Under vitest this module runs from src/; the helpers are
 * only ever compiled into dist/.
 */
export function nativeHelper(name: NativeHelper): string {
  const known = found.get(name);
  if (known !== undefined) return known;
  if (process.platform !== "linux") {
    throw new TbuildError("failed-precondition", `this step needs Linux (namespaces, overlayfs); this machine runs ${process.platform}`, {
      hint: "run tbuild on Linux, e.g. in a Linux VM or container",
    });
  }
  const rel = `../native/linux-${process.arch}/${name}`;
  const path = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? `../../dist/native/linux-${process.arch}/${name}` : rel, import.meta.url));
  try {
    accessSync(path, constants.X_OK);
  } catch {
    const shipped = SHIPPED.includes(process.arch);
    throw new TbuildError(
      "unavailable",
      shipped
        ? `tbuild's helper ${name} for linux/${process.arch} is missing (${path})`
        : `tbuild ships its helper ${name} for linux/${SHIPPED.join(", linux/")}, not for this machine's CPU (linux/${process.arch})`,
      {
        hint: shipped
          ? "reinstall tbuild (npm i -g tbuild); in a source checkout run npm run build, which compiles it (Debian: apt-get install gcc libc6-dev)"
          : "build tbuild from source on this machine: apt-get install gcc libc6-dev, then npm ci && npm run build in a checkout",
      },
    );
  }
  found.set(name, path);
  return path;
}
