import { readFileSync } from "node:fs";
import path from "node:path";
import { formatPlatform, hostPlatform } from "../../oci/platform.js";
import { inUserNamespace, isPrivileged } from "../../userns/namespace.js";
import { chooseDriver } from "../../snapshotter/drivers/index.js";
import { defaultStoreRoot } from "../../store/root.js";
import type { Command } from "../command.js";
import { parseFlags } from "../args.js";
import { table } from "../format.js";
import { printUsage, storeOptions } from "../store-flags.js";

/** tbuild's own version, from the package.json two levels above src/cli/commands and dist/cli/commands alike. */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return manifest.version;
}

/**
 * What a bug report needs: tbuild's and Node's versions, and the snapshotter a build
 * would use with this store on this machine (the recorded one, else the overlay probe's
 * answer, which builds cache and reuse).
 */
export async function versionText(root: string | undefined): Promise<string> {
  const snapshotterRoot = path.join(path.resolve(root ?? defaultStoreRoot()), "snapshotter");
  // The version must print even where the store cannot be used: then it says why.
  const snapshotter = await chooseDriver(snapshotterRoot).then(
    ({ driver, recorded }) => `${driver} (${recorded ? `recorded in ${snapshotterRoot}` : driver === "overlay" ? "overlayfs mounts here" : "overlayfs does not mount here; native copies each layer"})`,
    (e: unknown) => `unknown (${e instanceof Error ? e.message : String(e)})`,
  );
  const mode = isPrivileged() && !inUserNamespace() ? "root" : "rootless, in a user namespace";
  return table([
    ["tbuild:", packageVersion()],
    ["node:", `${process.version} (${formatPlatform(hostPlatform())})`],
    ["snapshotter:", snapshotter],
    ["runs as:", mode],
  ]);
}

export const versionCommand: Command = {
  name: "version",
  summary: "Show tbuild's and Node's versions and the snapshotter builds would use",
  usage: "tbuild version [--root DIR]   (also: tbuild --version)",
  async run(argv) {
    const { values } = parseFlags(versionCommand, { args: argv, options: storeOptions });
    if (values.help === true) return printUsage(versionCommand);
    process.stdout.write(await versionText(values.root));
    return 0;
  },
};
