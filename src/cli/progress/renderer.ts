import type { BuildEvent } from "../../events.js";

/** Draws a build's progress from its public events. */
export interface Renderer {
  onEvent(e: BuildEvent): void;
  /** The build has ended (with `error` when it failed): draw the last of it. */
  finish(error?: unknown): void;
}
