import { splitInstructions } from "./lines.js";
import { buildStages } from "./stages.js";
import type { ParseOptions, ParseResult } from "./types.js";

export { DockerfileError } from "./errors.js";
export { toJson } from "./json.js";
export { outline } from "./outline.js";
export { expandWord, expandWords } from "./expand.js";
export { mountFields } from "./instructions.js";
export * from "./types.js";

/**
 * Parses Dockerfile text into stages of typed instructions. Throws DockerfileError
 * (with file, line, column and perhaps a hint) for anything Docker would reject.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParseResult {
  const file = options.file ?? "Dockerfile";
  return buildStages(splitInstructions(text, file), { ...options, file });
}
export { durationMs } from "./duration.js";
export { heredocMarker } from "./heredoc.js";
export { PROXY_ARGS } from "./stages.js";
