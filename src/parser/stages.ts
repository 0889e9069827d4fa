import { DockerfileError, SyntaxProblem } from "./errors.js";
import { expandWord, expandWords, withExpansionBudget, type Lookup } from "./expand.js";
import { parseFlags } from "./flags.js";
import { buildInstruction, flagSpecs, mountFields } from "./instructions.js";
import type { RawDockerfile, RawInstruction } from "./lines.js";
import { hostPlatform, parsePlatform } from "../oci/platform.js";
import type { Platform } from "../oci/schemas.js";
import { platformArgs } from "./platform.js";
import { nearest } from "./suggest.js";
import type { Instruction, ParseOptions, ParseResult, Stage } from "./types.js";
import { LIMITS } from "./limits.js";

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Proxy ARGs Docker predefines: usable without an ARG line when given with --build-arg. */
export const PROXY_ARGS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

interface Located {
  file: string;
  raw: RawInstruction;
}

function located<T>({ file, raw }: Located, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SyntaxProblem) throw new DockerfileError(file, raw.startLine, raw.column, e.message, e.hint);
    throw e;
  }
}

function platformOption(text: string | undefined, what: string): Platform {
  if (text === undefined) return hostPlatform();
  try {
    return parsePlatform(text);
  } catch {
    throw new SyntaxProblem(`invalid ${what} '${text}'`, "write it as os/arch[/variant], e.g. linux/amd64");
  }
}

/**
 * Groups instructions into stages and gives them meaning in order: ARG scoping
 * (meta ARGs visible to FROM lines only, unless redeclared), ENV and ARG
 * expansion, stage references, the dependency graph and --target pruning.
 */
export function buildStages(dockerfile: RawDockerfile, options: ParseOptions): ParseResult {
  return withExpansionBudget(() => buildStagesBounded(dockerfile, options));
}

function buildStagesBounded(dockerfile: RawDockerfile, options: ParseOptions): ParseResult {
  const file = options.file ?? "Dockerfile";
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
  const stages: Stage[] = [];
  /** Stage-reference candidates (COPY --from, RUN --mount from=) resolved once all stages are known. */
  const pendingRefs: { stage: number; ref: string; at: Located }[] = [];

  let current: Stage | undefined;
  let env = new Map<string, string>();
  let args = new Map<string, string>();
  const lookup: Lookup = (name) => env.get(name) ?? args.get(name);

  for (const [n, raw] of dockerfile.instructions.entries()) {
    const at = { file, raw };
    if (n >= LIMITS.instructions) throw new DockerfileError(file, raw.startLine, raw.column, `more than ${LIMITS.instructions} instructions`, "split the build into several Dockerfiles");
    if (raw.keyword === "from" && stages.length >= LIMITS.stages) throw new DockerfileError(file, raw.startLine, raw.column, `more than ${LIMITS.stages} stages`, "split the build into several Dockerfiles");
    if (raw.keyword === "from") {
      const stage = located(at, () => fromStage(raw, stages, metaLookup, escape, options.imageEnv));
      stages.push(stage);
      current = stage;
      env = new Map(stage.env.map((kv) => [kv.key, kv.value]));
      args = new Map(PROXY_ARGS.filter((k) => k in buildArgs).map((k) => [k, buildArgs[k]!]));
      continue;
    }
    if (current === undefined) {
      if (raw.keyword !== "arg") {
        const known = located(at, () => buildInstruction(raw, { escape, lookup: metaLookup }));
        throw new DockerfileError(file, raw.startLine, raw.column, `${known.keyword} must come after a FROM instruction`, "a Dockerfile starts with FROM (only ARG may come before it)");
      }
      const declared = located(at, () => buildInstruction(raw, { escape, lookup: metaLookup }));
      located(at, () =>
        declareArgs(declared, metaLookup, escape, (key, value) => {
          const effective = buildArgs[key] ?? value;
          metaArgs.push({ key, value: effective ?? null });
          if (effective === undefined) metaValues.delete(key);
          else metaValues.set(key, effective);
          return effective;
        }),
      );
      continue;
    }
    const instruction = located(at, () => buildInstruction(raw, { escape, lookup }));
    current.instructions.push(instruction);
    current.lines[1] = raw.endLine;
    if (instruction.keyword === "ENV") {
      for (const { key, value } of instruction.args.pairs) env.set(key, value);
    }
    located(at, () =>
      declareArgs(instruction, lookup, escape, (key, value) => {
        // A redeclared meta ARG without a default takes the global value; platform ARGs take theirs.
        const inherited = metaArgs.some((m) => m.key === key) || isAutoArg(key) ? metaValues.get(key) : undefined;
        const effective = buildArgs[key] ?? value ?? inherited;
        if (effective === undefined) args.delete(key);
        else args.set(key, effective);
        return effective;
      }),
    );
    for (const ref of stageRefs(instruction)) pendingRefs.push({ stage: current.index, ref, at });
    if (instruction.keyword === "ENV") current.env = [...env].map(([key, value]) => ({ key, value }));
  }

  if (stages.length === 0) {
    const line = dockerfile.instructions.at(-1)?.endLine ?? 1;
    throw new DockerfileError(file, line, 1, dockerfile.instructions.length === 0 ? "file with no instructions" : "no FROM instruction: the Dockerfile has no build stage", "add a FROM line, e.g. FROM scratch");
  }

  for (const { stage, ref, at } of pendingRefs) {
    const target = resolveStageRef(ref, stages, at);
    if (target !== undefined) addDependency(stages[stage]!, target);
  }
  checkCycles(stages, file);

  const target = chooseTarget(stages, options.target, file);
  const needed = closure(stages, target);
  return {
    file,
    directives: { ...dockerfile.directives },
    metaArgs,
    stages: options.target === undefined ? stages : stages.filter((s) => needed.has(s.index)),
    target,
    warnings: dockerfile.warnings,
  };
}

function fromStage(raw: RawInstruction, stages: Stage[], metaLookup: Lookup, escape: string, imageEnv: ParseOptions["imageEnv"]): Stage {
  const flags = parseFlags("FROM", raw.flags, flagSpecs("from"), (v) => expandWord(v, metaLookup, escape));
  const words = raw.rest === "" ? [] : raw.rest.split(/[ \t\v\f\r\n]+/);
  if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === "as")) {
    throw new SyntaxProblem("FROM requires either one or three arguments", "write FROM image [AS name]");
  }
  const expanded = expandWords(words[0]!, metaLookup, escape);
  const base = expanded.join(" ");
  if (base === "") throw new SyntaxProblem(`base name (${words[0]}) should not be blank`, "give the ARG it uses a value (ARG before FROM, or --build-arg)");
  if (expanded.length > 1) throw new SyntaxProblem(`base name (${words[0]}) expands to more than one word: '${base}'`);
  let name: string | null = null;
  if (words.length === 3) {
    name = words[2]!.toLowerCase();
    if (!STAGE_NAME.test(name)) throw new SyntaxProblem(`invalid name for build stage: '${words[2]}'`, "stage names start with a letter and contain letters, digits, -, _ and .");
    if (stages.some((s) => s.name === name)) throw new SyntaxProblem(`duplicate stage name '${name}'`, "give every stage its own AS name");
  }
  const baseStage = stages.find((s) => s.name !== null && s.name === base.toLowerCase());
  const platform = typeof flags["platform"] === "string" ? flags["platform"] : null;
  return {
    index: stages.length,
    name,
    base,
    platform,
    baseStage: baseStage?.index ?? null,
    dependsOn: baseStage === undefined ? [] : [baseStage.index],
    lines: [raw.startLine, raw.endLine],
    instructions: [],
    env: baseStage?.env ?? (base === "scratch" ? undefined : imageEnv?.(base)) ?? [],
  };
}

/**
 * Expands an ARG line's defaults one by one, each seeing the ones declared before
 * it (`ARG A=1 B=$A` gives B=1), and hands each to `declare`, which says the value
 * in force. The instruction keeps the expanded defaults and those values. Does
 * nothing for other instructions.
 */
function declareArgs(instruction: Instruction, lookup: Lookup, escape: string, declare: (key: string, value: string | undefined) => string | undefined): void {
  if (instruction.keyword !== "ARG") return;
  for (const arg of instruction.args.args) {
    if (arg.value !== null) arg.value = expandWord(arg.value, lookup, escape);
    arg.effective = declare(arg.key, arg.value ?? undefined) ?? null;
  }
}

function isAutoArg(key: string): boolean {
  return /^(BUILD|TARGET)(PLATFORM|OS|ARCH|VARIANT)$/.test(key);
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
      throw new DockerfileError(at.file, at.raw.startLine, at.raw.column, `invalid stage index ${ref}: the Dockerfile has ${stages.length} stage(s), numbered from 0`);
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

