import { DockerfileError, SyntaxProblem } from "./errors.js";
import { parseFlags } from "./flags.js";
import { buildInstruction, flagSpecs } from "./instructions.js";
import type { RawDockerfile, RawInstruction } from "./lines.js";
import { LIMITS } from "./limits.js";
import type { Dockerfile, Instruction, StageSyntax } from "./types.js";

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function located<T>(file: string, raw: RawInstruction, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SyntaxProblem) throw new DockerfileError(file, raw.startLine, raw.column, e.message, e.hint);
    throw e;
  }
}

/**
 * Groups instructions into stages, each given its typed form with words as written:
 * everything Docker rejects whatever the build args and platform is rejected here,
 * once. What depends on them (FROM's image, ARG and ENV values, stage references) is
 * left to planStages and StageScope.
 */
export function stageSyntax(dockerfile: RawDockerfile, file: string): Dockerfile {
  const escape = dockerfile.directives.escape;
  const metaArgs: Dockerfile["metaArgs"] = [];
  const stages: StageSyntax[] = [];
  // LIMITS.instructions is checked by planStages, in order with the expansion budget it bounds.
  for (const raw of dockerfile.instructions) {
    if (raw.keyword === "from") {
      if (stages.length >= LIMITS.stages) throw new DockerfileError(file, raw.startLine, raw.column, `more than ${LIMITS.stages} stages`, "split the build into several Dockerfiles");
      stages.push(located(file, raw, () => fromSyntax(raw, stages)));
      continue;
    }
    const instruction = located(file, raw, () => buildInstruction(raw, escape));
    const current = stages.at(-1);
    if (current === undefined) {
      if (instruction.keyword !== "ARG") {
        throw new DockerfileError(file, raw.startLine, raw.column, `${instruction.keyword} must come after a FROM instruction`, "a Dockerfile starts with FROM (only ARG may come before it)");
      }
      metaArgs.push(instruction);
      continue;
    }
    current.instructions.push(instruction);
    current.lines[1] = raw.endLine;
  }
  if (stages.length === 0) {
    const line = dockerfile.instructions.at(-1)?.endLine ?? 1;
    throw new DockerfileError(file, line, 1, dockerfile.instructions.length === 0 ? "file with no instructions" : "no FROM instruction: the Dockerfile has no build stage", "add a FROM line, e.g. FROM scratch");
  }
  return { file, directives: { ...dockerfile.directives }, metaArgs, stages, warnings: dockerfile.warnings };
}

function fromSyntax(raw: RawInstruction, stages: StageSyntax[]): StageSyntax {
  const flags = parseFlags("FROM", raw.flags, flagSpecs("from"));
  const words = raw.rest === "" ? [] : raw.rest.split(/[ \t\v\f\r\n]+/);
  if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === "as")) {
    throw new SyntaxProblem("FROM requires either one or three arguments", "write FROM image [AS name]");
  }
  let name: string | null = null;
  if (words.length === 3) {
    name = words[2]!.toLowerCase();
    if (!STAGE_NAME.test(name)) throw new SyntaxProblem(`invalid name for build stage: '${words[2]}'`, "stage names start with a letter and contain letters, digits, -, _ and .");
    if (stages.some((s) => s.name === name)) throw new SyntaxProblem(`duplicate stage name '${name}'`, "give every stage its own AS name");
  }
  const platform = typeof flags["platform"] === "string" ? flags["platform"] : null;
  return { index: stages.length, name, from: { image: words[0]!, platform }, column: raw.column, lines: [raw.startLine, raw.endLine], instructions: [] as Instruction[] };
}
