import { splitInstructions } from "./lines.js";
import { planStages } from "./stages.js";
import { stageSyntax } from "./syntax.js";
import type { Dockerfile, ParseOptions, ParseResult } from "./types.js";

export { DockerfileError } from "./errors.js";
export { toJson } from "./json.js";
export { outline } from "./outline.js";
export { expandWord, expandWords } from "./expand.js";
export { mountFields, parseTrigger } from "./instructions.js";
export { planStages } from "./stages.js";
export { PROXY_ARGS, StageScope } from "./scope.js";
export * from "./types.js";

/**
 * Parses Dockerfile text once into stages of typed instructions, words as written:
 * the form every platform's build shares. Throws DockerfileError (with file, line,
 * column and perhaps a hint) for anything Docker would reject whatever the build args.
 */
export function parseSyntax(text: string, options: { file?: string } = {}): Dockerfile {
  const file = options.file ?? "Dockerfile";
  return stageSyntax(splitInstructions(text, file), file);
}

/**
 * Parses Dockerfile text into stages of typed instructions with their values for the
 * given build args and platform (what `tbuild parse` shows). Throws DockerfileError
 * (with file, line, column and perhaps a hint) for anything Docker would reject.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParseResult {
  const { plan, expanded } = planStages(parseSyntax(text, options), options);
  const { args: _args, ...result } = plan;
  return { ...result, stages: plan.stages.map((s) => ({ ...s, instructions: expanded.get(s.index)! })) };
}
export { durationMs } from "./duration.js";
export { heredocMarker } from "./heredoc.js";
