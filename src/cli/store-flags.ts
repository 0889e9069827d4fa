import { openStore, type ImageStore } from "../store/image-store.js";
import type { Command } from "./command.js";

/** Flags every store command takes; spread into the parseArgs options. */
export const storeOptions = { root: { type: "string" }, help: { type: "boolean", short: "h" } } as const;

/** Opens the store named by --root, else $TBUILD_ROOT or the XDG data dir. */
export function storeFromFlags(values: { root?: string | boolean | undefined }): Promise<ImageStore> {
  return openStore(typeof values.root === "string" ? values.root : undefined);
}

export function printUsage(cmd: Pick<Command, "summary" | "usage">, extra = ""): number {
  process.stdout.write(`Usage: ${cmd.usage}\n\n${cmd.summary}\n${extra}\n  --root DIR   image store (default $TBUILD_ROOT, else $XDG_DATA_HOME/tbuild)\n`);
  return 0;
}
