import { TbuildError } from "../../errors.js";
import { plainRenderer } from "./plain.js";
import { rawjsonRenderer } from "./rawjson.js";
import type { Renderer } from "./renderer.js";
import { BuildView, errorSummary } from "./view.js";

export type { Renderer } from "./renderer.js";

export const PROGRESS_MODES = ["auto", "tty", "plain", "rawjson", "quiet"] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/**
 * The progress mode: `--progress`, else $TBUILD_PROGRESS, else $BUILDKIT_PROGRESS
 * (so a CI that sets it for buildx gets the same from tbuild), else auto.
 */
export function progressMode(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  const [value, from] =
    flag !== undefined ? [flag, "--progress"] : env["TBUILD_PROGRESS"] ? [env["TBUILD_PROGRESS"], "TBUILD_PROGRESS"] : env["BUILDKIT_PROGRESS"] ? [env["BUILDKIT_PROGRESS"], "BUILDKIT_PROGRESS"] : ["auto", ""];
  if (!(PROGRESS_MODES as readonly string[]).includes(value)) {
    throw new TbuildError("invalid-argument", `${from} ${value}: choose ${PROGRESS_MODES.join(", ")}`);
  }
  return value as ProgressMode;
}

/** Quiet: nothing while the build runs; a failed step's output and Dockerfile lines when it fails. */
function quietRenderer(write: (text: string) => void): Renderer {
  const view = new BuildView(20);
  return {
    onEvent: (e) => view.apply(e),
    finish: () => write(errorSummary(view)),
  };
}

/**
 * The renderer for `mode`, drawing on `out` (standard error, as buildx does). auto is
 * the live view on a terminal and plain anywhere else; the live view is never drawn
 * into a pipe or file, where its redraws would be garbage. The live view's modules
 * (log-update and its dozen dependencies) are loaded only when it is drawn.
 */
export async function createRenderer(mode: ProgressMode, out: NodeJS.WriteStream): Promise<Renderer> {
  const write = (text: string): void => void out.write(text);
  switch (mode) {
    case "quiet":
      return quietRenderer(write);
    case "rawjson":
      return rawjsonRenderer(write);
    case "plain":
      return plainRenderer(write);
    default:
      return out.isTTY === true && process.env["TERM"] !== "dumb" ? (await import("./tty.js")).ttyRenderer(out) : plainRenderer(write);
  }
}
