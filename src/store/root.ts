import { homedir } from "node:os";
import { join } from "node:path";

/** The store root: --root, else $TBUILD_ROOT, else $XDG_DATA_HOME/tbuild, else ~/.local/share/tbuild. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["TBUILD_ROOT"];
  if (explicit !== undefined && explicit !== "") return explicit;
  const xdg = env["XDG_DATA_HOME"];
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".local", "share"), "tbuild");
}
