import type { Heredoc } from "./heredoc.js";

export type { Heredoc };

/** A command in shell form (run by the stage's SHELL) or exec form (an argv). */
export type CommandForm = { form: "shell"; command: string } | { form: "exec"; command: string[] };

export type FlagValue = string | boolean | string[];

export interface KeyValue {
  key: string;
  value: string;
}

interface InstructionBase {
  /** First and last line, 1-based, inclusive (continuations and heredoc bodies included). */
  lines: [number, number];
  column: number;
  /**
   * Only the flags written, by name without dashes. As parsed, values are as written;
   * `expandInstruction` (and a ParseResult) give the values of those Docker expands.
   */
  flags: Record<string, FlagValue>;
  /** The instruction as written, continuations joined. */
  original: string;
}

/**
 * Every instruction after FROM, by keyword, with its arguments given meaning. Words
 * Docker expands (ENV and LABEL pairs, ARG defaults, COPY paths, WORKDIR, ...) are kept
 * as written by the parse, whose result serves every platform; their values depend on
 * build state (build args, the platform, the base image's ENV) and are given by a
 * StageScope where the instruction is used.
 */
export type Instruction = InstructionBase &
  (
    | { keyword: "RUN"; args: CommandForm & { heredocs?: Heredoc[] } }
    | { keyword: "CMD" | "ENTRYPOINT"; args: CommandForm }
    | { keyword: "COPY" | "ADD"; args: { sources: string[]; dest: string; heredocs?: Heredoc[] } }
    | { keyword: "ENV" | "LABEL"; args: { pairs: KeyValue[] } }
    | {
        keyword: "ARG";
        args: {
          /** `value` is the default as declared (expanded in a scope); `effective`, the value in force after --build-arg and inheritance from a meta ARG or a platform ARG. */
          args: { key: string; value: string | null; effective?: string | null }[];
        };
      }
    | { keyword: "WORKDIR"; args: { path: string } }
    | { keyword: "USER"; args: { user: string } }
    | { keyword: "EXPOSE"; args: { ports: string[] } }
    | { keyword: "VOLUME"; args: { paths: string[] } }
    | { keyword: "STOPSIGNAL"; args: { signal: string } }
    | { keyword: "SHELL"; args: { shell: string[] } }
    | { keyword: "HEALTHCHECK"; args: { test: string[] } }
    | {
        keyword: "ONBUILD";
        /** The trigger as written (what the image config keeps), and parsed once, as it will run in a stage built on this one. */
        args: { trigger: string; instruction: Instruction };
      }
    | { keyword: "MAINTAINER"; args: { maintainer: string } }
  );

export type Keyword = Instruction["keyword"] | "FROM";

export const KEYWORDS: readonly Keyword[] = [
  "FROM", "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "LABEL", "ARG", "WORKDIR", "USER",
  "EXPOSE", "VOLUME", "STOPSIGNAL", "SHELL", "HEALTHCHECK", "ONBUILD", "MAINTAINER",
];

/** One build stage: FROM and the instructions up to the next FROM. */
export interface Stage {
  index: number;
  /** The `AS` name, lower-cased, or null. */
  name: string | null;
  /** The base image reference after expansion, or the base stage's name as written. */
  base: string;
  platform: string | null;
  /** Index of the stage this one is built FROM, or null for an image (or scratch). */
  baseStage: number | null;
  /** Sorted indices of every stage this one needs. */
  dependsOn: number[];
  lines: [number, number];
  instructions: Instruction[];
  /** The environment at the end of the stage as far as the Dockerfile says (ENV lines, inherited from a base stage). */
  env: KeyValue[];
}

/** A stage as written: the FROM line's words unexpanded (they may use meta ARGs). */
export interface StageSyntax {
  index: number;
  /** The `AS` name, lower-cased, or null. */
  name: string | null;
  /** FROM's image word and --platform value, as written. */
  from: { image: string; platform: string | null };
  /** Where the FROM line is. */
  column: number;
  lines: [number, number];
  instructions: Instruction[];
}

/** A Dockerfile parsed once, independent of build args and platform: what every build of it shares. */
export interface Dockerfile {
  file: string;
  directives: { escape: string; syntax?: string; check?: string };
  /** The ARG lines before the first FROM, defaults as written. */
  metaArgs: (Instruction & { keyword: "ARG" })[];
  stages: StageSyntax[];
  warnings: { line: number; message: string }[];
}

/** What ARG lines resolve against in one build: --build-arg, the meta ARGs and the platform ARGs. */
export interface ArgValues {
  buildArgs: Record<string, string>;
  /** Values after the meta ARG lines, over the automatic platform ARGs. */
  meta: ReadonlyMap<string, string>;
  /** Names the meta ARG lines declare: a stage's `ARG NAME` without a default takes their value. */
  metaDeclared: ReadonlySet<string>;
}

export interface ParseResult {
  file: string;
  directives: { escape: string; syntax?: string; check?: string };
  /** ARGs before the first FROM, after --build-arg overrides. */
  metaArgs: { key: string; value: string | null }[];
  /** Stages the target needs (all when no target was asked for), in source order. */
  stages: Stage[];
  /** Index of the target stage. */
  target: number;
  warnings: { line: number; message: string }[];
}

/**
 * One build's view of a parsed Dockerfile (build args, platform, target): the stage
 * graph with FROM lines resolved, instructions still as written, for the builder to
 * expand where it uses them (StageScope), against the real base image's ENV.
 */
export interface BuildPlan extends ParseResult {
  args: ArgValues;
}

export interface ParseOptions {
  /** Name shown in errors and output; default `Dockerfile`. */
  file?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  /** Platform being built for (`os/arch[/variant]`); default the host's. */
  platform?: string;
  /** Platform of the machine doing the build; default the host's. */
  buildPlatform?: string;
  /**
   * The ENV of a base image, when known (the builder knows it once the image is
   * pulled): later instructions expand against it, as `WORKDIR $GOPATH` expects.
   */
  imageEnv?: (base: string) => KeyValue[] | undefined;
}
