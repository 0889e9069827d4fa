import { DockerfileError, SyntaxProblem } from "./errors.js";
import { expandWord, expandWords, withExpansionBudget, type Lookup } from "./expand.js";
import { mountFields } from "./instructions.js";
import { hostPlatform, parsePlatform } from "../oci/platform.js";
import type { Platform } from "../oci/schemas.js";
import { LIMITS } from "./limits.js";
import { platformArgs } from "./platform.js";
import { StageScope } from "./scope.js";
import { nearest } from "./suggest.js";
import type { ArgValues, BuildPlan, Dockerfile, Instruction, KeyValue, ParseOptions, Stage, StageSyntax } from "./types.js";

interface Located {
  file: string;
  line: number;
  column: number;
}

function platformOption(text: string | undefined, what: string): Platform {
  if (text === undefined) return hostPlatform();
  try {
    return parsePlatform(text);
  } catch {
    throw new SyntaxProblem(`invalid ${what} '${text}'`, "write it as os/arch[/variant], e.g. linux/amd64");
  }
}

/** A plan, and every instruction with its values as far as the Dockerfile says (without a base image's ENV unless `imageEnv` knows it). */
export interface PlannedStages {
  plan: BuildPlan;
  /** By stage index. */
  expanded: Map<number, Instruction[]>;
}

/**
 * Resolves a parsed Dockerfile for one build (build args, platform, target): ARG
 * scoping (meta ARGs visible to FROM lines only, unless redeclared), FROM lines, stage
 * references, the dependency graph and --target pruning. Every instruction is given
 * its values on the way, as far as the Dockerfile says, so what cannot expand (`${X:?}`,
 * a runaway `$A$A`) fails here, before anything is built, at its line.
 */
export function planStages(dockerfile: Dockerfile, options: ParseOptions): PlannedStages {
  return withExpansionBudget(() => planBounded(dockerfile, options));
}

function planBounded(dockerfile: Dockerfile, options: ParseOptions): PlannedStages {
  const file = dockerfile.file;
  const buildArgs = options.buildArgs ?? {};
  const escape = dockerfile.directives.escape;
  let autoArgs: Record<string, string>;
  try {
    autoArgs = platformArgs(platformOption(options.buildPlatform, "build platform"), platformOption(options.platform, "platform"));
  } catch (e) {
    if (e instanceof SyntaxProblem) throw new DockerfileError(file, 1, 1, e.message, e.hint);
    throw e;
  }

  const metaArgs: { key: string; value: string | null }[] = [];
  const metaValues = new Map<string, string>(Object.entries(autoArgs));
  const metaLookup: Lookup = (name) => metaValues.get(name);
  let count = 0;
  /** Counts instructions (FROM lines too) as the walk meets them: most a Dockerfile may have is LIMITS.instructions. */
  const counted = (at: Located): void => {
    if (++count > LIMITS.instructions) throw new DockerfileError(file, at.line, at.column, `more than ${LIMITS.instructions} instructions`, "split the build into several Dockerfiles");
  };
  for (const line of dockerfile.metaArgs) {
    counted({ file, line: line.lines[0], column: line.column });
    located({ file, line: line.lines[0], column: line.column }, () => {
      for (const { key, value } of line.args.args) {
        const declared = value === null ? undefined : expandWord(value, metaLookup, escape);
        const effective = buildArgs[key] ?? declared;
        metaArgs.push({ key, value: effective ?? null });
        if (effective === undefined) metaValues.delete(key);
        else metaValues.set(key, effective);
      }
    });
  }
  const args: ArgValues = { buildArgs, meta: metaValues, metaDeclared: new Set(metaArgs.map((m) => m.key)) };

  const stages: Stage[] = [];
  const expanded = new Map<number, Instruction[]>();
  /** The environment at the end of each stage, for stages built on it. */
  const scopes: StageScope[] = [];
  /** Stage-reference candidates (COPY --from, RUN --mount from=) resolved once all stages are known. */
  const pendingRefs: { stage: number; ref: string; at: Located }[] = [];
  for (const syntax of dockerfile.stages) {
    counted({ file, line: syntax.lines[0], column: syntax.column });
    const stage = located({ file, line: syntax.lines[0], column: syntax.column }, () => fromStage(syntax, stages, metaLookup, escape));
    const env: KeyValue[] = stage.baseStage !== null ? scopes[stage.baseStage]!.envPairs() : ((stage.base === "scratch" ? undefined : options.imageEnv?.(stage.base)) ?? []);
    const scope = new StageScope(args, env.map((kv) => [kv.key, kv.value]), escape);
    const values: Instruction[] = [];
    for (const instruction of syntax.instructions) {
      counted({ file, line: instruction.lines[0], column: instruction.column });
      const value = scope.resolve(instruction, file);
      values.push(value);
      for (const ref of stageRefs(value)) pendingRefs.push({ stage: stage.index, ref, at: { file, line: instruction.lines[0], column: instruction.column } });
    }
    stage.env = scope.envPairs();
    stages.push(stage);
    scopes.push(scope);
    expanded.set(stage.index, values);
  }

  for (const { stage, ref, at } of pendingRefs) {
    const target = resolveStageRef(ref, stages, at);
    if (target !== undefined) addDependency(stages[stage]!, target);
  }
  checkCycles(stages, file);

  const target = chooseTarget(stages, options.target, file);
  const needed = closure(stages, target);
  const plan: BuildPlan = {
    file,
    directives: { ...dockerfile.directives },
    metaArgs,
    stages: options.target === undefined ? stages : stages.filter((s) => needed.has(s.index)),
    target,
    warnings: dockerfile.warnings,
    args,
  };
  return { plan, expanded };
}

function located<T>(at: Located, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SyntaxProblem) throw new DockerfileError(at.file, at.line, at.column, e.message, e.hint);
    throw e;
  }
}

function fromStage(syntax: StageSyntax, stages: Stage[], metaLookup: Lookup, escape: string): Stage {
  const platform = syntax.from.platform === null ? null : expandWord(syntax.from.platform, metaLookup, escape);
  const written = syntax.from.image;
  const expanded = expandWords(written, metaLookup, escape);
  const base = expanded.join(" ");
  if (base === "") throw new SyntaxProblem(`base name (${written}) should not be blank`, "give the ARG it uses a value (ARG before FROM, or --build-arg)");
  if (expanded.length > 1) throw new SyntaxProblem(`base name (${written}) expands to more than one word: '${base}'`);
  const baseStage = stages.find((s) => s.name !== null && s.name === base.toLowerCase());
  return {
    index: syntax.index,
    name: syntax.name,
    base,
    platform,
    baseStage: baseStage?.index ?? null,
    dependsOn: baseStage === undefined ? [] : [baseStage.index],
    lines: [...syntax.lines],
    // As written: the builder gives them their values where it uses them.
    instructions: syntax.instructions,
    env: [],
  };
}

function stageRefs(instruction: Instruction): string[] {
  if (instruction.keyword === "COPY" && typeof instruction.flags["from"] === "string") return [instruction.flags["from"]];
  if (instruction.keyword === "RUN") {
    const mounts = (instruction.flags["mount"] as string[] | undefined) ?? [];
    return mounts.map((m) => mountFields(m).get("from")).filter((f): f is string => f !== undefined);
  }
  return [];
}

/** A stage name or index names a stage; anything else is an image reference, as in Docker. */
function resolveStageRef(ref: string, stages: Stage[], at: Located): number | undefined {
  const byName = stages.find((s) => s.name !== null && s.name === ref.toLowerCase());
  if (byName !== undefined) return byName.index;
  if (/^\d+$/.test(ref)) {
    const index = Number(ref);
    if (index >= stages.length) {
      throw new DockerfileError(at.file, at.line, at.column, `invalid stage index ${ref}: the Dockerfile has ${stages.length} stage(s), numbered from 0`);
    }
    return index;
  }
  return undefined;
}

function addDependency(stage: Stage, on: number): void {
  if (!stage.dependsOn.includes(on)) {
    stage.dependsOn.push(on);
    stage.dependsOn.sort((a, b) => a - b);
  }
}

function checkCycles(stages: Stage[], file: string): void {
  const state = new Map<number, "visiting" | "done">();
  const visit = (i: number, path: number[]): void => {
    if (state.get(i) === "done") return;
    const stage = stages[i]!;
    if (state.get(i) === "visiting") {
      const cycle = [...path.slice(path.indexOf(i)), i].map((j) => stages[j]!.name ?? String(j)).join(" -> ");
      throw new DockerfileError(file, stage.lines[0], 1, `circular dependency between stages: ${cycle}`, "a stage cannot need itself, directly or through other stages");
    }
    state.set(i, "visiting");
    for (const d of stage.dependsOn) visit(d, [...path, i]);
    state.set(i, "done");
  };
  for (const s of stages) visit(s.index, []);
}

function chooseTarget(stages: Stage[], target: string | undefined, file: string): number {
  if (target === undefined) return stages.length - 1;
  const found = stages.find((s) => s.name === target.toLowerCase());
  if (found !== undefined) return found.index;
  const names = stages.map((s) => s.name).filter((n): n is string => n !== null);
  const guess = nearest(target, names);
  throw new DockerfileError(
    file,
    1,
    1,
    `target stage '${target}' could not be found`,
    guess !== undefined ? `did you mean '${guess}'?` : names.length > 0 ? `stages: ${names.join(", ")}` : "name a stage with FROM image AS name",
  );
}

function closure(stages: Stage[], target: number): Set<number> {
  const needed = new Set<number>();
  const walk = (i: number): void => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of stages[i]!.dependsOn) walk(d);
  };
  walk(target);
  return needed;
}

