import { DockerfileError, SyntaxProblem } from "./errors.js";
import { expandWord, type Lookup } from "./expand.js";
import { expandInstruction } from "./instructions.js";
import type { ArgValues, Instruction, KeyValue } from "./types.js";

/** Proxy ARGs Docker predefines: usable without an ARG line when given with --build-arg. */
export const PROXY_ARGS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

export function isAutoArg(key: string): boolean {
  return /^(BUILD|TARGET)(PLATFORM|OS|ARCH|VARIANT)$/.test(key);
}

/**
 * The variables at one point of a stage, scoped as Docker scopes them: the stage's
 * ENV (from its base, then its ENV lines) over the ARGs it declared so far. The parse
 * keeps instructions as written; a scope gives them their values in order, so the
 * same parse serves every platform and build args, and the builder expands against
 * the base image it actually has.
 */
export class StageScope {
  readonly env: Map<string, string>;
  /** Values of the ARGs this stage declared (RUN sees them as environment). */
  readonly args = new Map<string, string>();
  /** ARGs visible to expansion: the proxy build args, then the declared ones (an ARG without a value hides one). */
  private readonly visible: Map<string, string>;
  readonly lookup: Lookup = (name) => this.env.get(name) ?? this.visible.get(name);

  constructor(
    private readonly values: ArgValues,
    env: Iterable<readonly [string, string]>,
    private readonly escape: string,
  ) {
    this.env = new Map(env);
    this.visible = new Map(PROXY_ARGS.filter((k) => k in values.buildArgs).map((k) => [k, values.buildArgs[k]!]));
  }

  /**
   * The instruction with its values here, the scope updated by what it declares (ENV,
   * ARG). An expansion error is a DockerfileError at the instruction, in `file`.
   */
  resolve(instruction: Instruction, file: string): Instruction {
    try {
      return this.resolveHere(instruction);
    } catch (e) {
      if (e instanceof SyntaxProblem) throw new DockerfileError(file, instruction.lines[0], instruction.column, e.message, e.hint);
      throw e;
    }
  }

  /**
   * COPY --from (and RUN --mount from=) takes ARG values only, never ENV: which stages a build needs is decided
   * before anything runs, and a base image's ENV is known only once it is pulled (planned
   * without it, a `--from=$X` that the image's ENV names a stage would be built without
   * that stage). So the plan and the stage expanding the line agree by construction.
   * BuildKit expands nothing in --from; ARGs are tbuild's allowance.
   */
  private fromValue(written: string, what: string): string {
    const value = expandWord(written, (name) => this.visible.get(name), this.escape);
    if (value === "") {
      throw new SyntaxProblem(
        `${what}=${written} is empty: no ARG in scope gives it a value`,
        "a stage or image to copy or mount from takes ARG values only, not ENV (a base image's ENV is not known when the build is planned): declare it with ARG (a default or --build-arg), or write the stage or image name",
      );
    }
    return value;
  }

  /** A RUN --mount with its from= field expanded as COPY --from is (ARG values only); the other fields keep their ENV. */
  private mountFrom(written: string, expanded: string): string {
    const from = written.split(",").find((f) => /^\s*from\s*=/i.test(f));
    if (from === undefined) return expanded;
    const value = this.fromValue(from.slice(from.indexOf("=") + 1).trim(), "RUN --mount from");
    return expanded
      .split(",")
      .map((f) => (/^\s*from\s*=/i.test(f) ? `from=${value}` : f))
      .join(",");
  }

  /** The environment as KeyValue pairs, in the order set. */
  envPairs(): KeyValue[] {
    return [...this.env].map(([key, value]) => ({ key, value }));
  }

  private resolveHere(instruction: Instruction): Instruction {
    if (instruction.keyword === "ARG") {
      // One by one: `ARG A=1 B=$A` gives B=1.
      const args = instruction.args.args.map(({ key, value: written }) => {
        const value = written === null ? null : expandWord(written, this.lookup, this.escape);
        const effective = argValue(key, value ?? undefined, this.values);
        if (effective === undefined) this.visible.delete(key);
        else {
          this.visible.set(key, effective);
          this.args.set(key, effective);
        }
        return { key, value, effective: effective ?? null };
      });
      return { ...instruction, args: { args } };
    }
    const expanded = expandInstruction(instruction, this.lookup, this.escape);
    if (expanded.keyword === "COPY" && typeof instruction.flags["from"] === "string") expanded.flags = { ...expanded.flags, from: this.fromValue(instruction.flags["from"], "COPY --from") };
    if (expanded.keyword === "RUN" && Array.isArray(instruction.flags["mount"])) {
      const written = instruction.flags["mount"];
      expanded.flags = { ...expanded.flags, mount: (expanded.flags["mount"] as string[]).map((m, i) => this.mountFrom(written[i]!, m)) };
    }
    if (expanded.keyword === "ENV") for (const { key, value } of expanded.args.pairs) this.env.set(key, value);
    return expanded;
  }
}

/** An ARG's value in force: --build-arg, else its default, else (for a redeclared meta ARG or a platform ARG) the global value. */
function argValue(key: string, declared: string | undefined, values: ArgValues): string | undefined {
  const inherited = values.metaDeclared.has(key) || isAutoArg(key) ? values.meta.get(key) : undefined;
  return values.buildArgs[key] ?? declared ?? inherited;
}
