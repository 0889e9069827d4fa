import type { BuildEvent } from "../../events.js";
import type { Renderer } from "./renderer.js";

/**
 * `--progress rawjson`: every build event as one JSON object on its own line, for
 * tools (docs/progress-events.md). Nothing else is written, so each line parses.
 */
export function rawjsonRenderer(write: (text: string) => void): Renderer {
  return {
    onEvent(e: BuildEvent): void {
      write(JSON.stringify(e) + "\n");
    },
    finish(): void {},
  };
}
