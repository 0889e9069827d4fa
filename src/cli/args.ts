import { parseArgs, type ParseArgsConfig } from "node:util";
import { TbuildError } from "../errors.js";
import { nearest } from "../parser/suggest.js";
import type { Command } from "./command.js";

type Flags = NonNullable<ParseArgsConfig["options"]>;

function usageError(cmd: Pick<Command, "name">, message: string, hint?: string): TbuildError {
  return new TbuildError("invalid-argument", message, { hint: hint ?? `'tbuild ${cmd.name} --help' lists its flags` });
}

/**
 * The closest flag of the command to what was typed, for the error's "did you mean":
 * `--buidl-arg` → `--build-arg`, and a long flag typed with one dash (`-platform`,
 * which parseArgs reads as the short flags -p -l -a ...) → `--platform`.
 */
function suggestFlag(typed: string, options: Flags): string | undefined {
  const name = typed.replace(/^--?/, "").replace(/=.*$/, "");
  const long = nearest(name, Object.keys(options));
  return long === undefined ? undefined : `--${long}`;
}

/**
 * Each mistake node:util parseArgs's strict mode throws on, found first from its tokens
 * and worded for a person: Node's own messages speak of "options" and argument
 * terminators, and suggest nothing.
 */
function checkFlags(cmd: Pick<Command, "name">, config: ParseArgsConfig): void {
  const options = config.options ?? {};
  const { tokens } = parseArgs({ ...config, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind === "positional" && config.allowPositionals !== true) {
      throw usageError(cmd, `'tbuild ${cmd.name}' takes no arguments, got '${token.value}'`);
    }
    if (token.kind !== "option") continue;
    const spec = options[token.name];
    if (spec === undefined) {
      const typed = config.args?.[token.index] ?? token.rawName;
      const shown = typed === token.rawName || typed.startsWith("--") ? token.rawName : `${token.rawName} (in ${typed})`;
      const guess = typed.length > 2 ? suggestFlag(typed, options) : undefined;
      throw usageError(cmd, `unknown flag ${shown} for 'tbuild ${cmd.name}'${guess === undefined ? "" : `; did you mean ${guess}?`}`);
    }
    const flag = token.rawName.startsWith("--") ? token.rawName : `${token.rawName} (--${token.name})`;
    if (spec.type === "boolean" && token.value !== undefined) throw usageError(cmd, `${flag} takes no value, got '${token.value}'`);
    if (spec.type === "string" && token.value === undefined) throw usageError(cmd, `${flag} needs a value`);
    // As parseArgs: `-t -x` is more likely a forgotten value than a name starting with '-'.
    if (spec.type === "string" && token.inlineValue === false && token.value !== undefined && token.value.length > 1 && token.value.startsWith("-")) {
      throw usageError(cmd, `${flag} needs a value, and '${token.value}' looks like a flag`, `if the value starts with '-', write --${token.name}=${token.value}`);
    }
  }
}

/** Parses a command's flags with node:util parseArgs; every mistake becomes a usage error of tbuild's own. */
export function parseFlags<T extends ParseArgsConfig>(cmd: Pick<Command, "name">, config: T): ReturnType<typeof parseArgs<T>> {
  checkFlags(cmd, config);
  return parseArgs(config);
}

export function requirePositionals(cmd: Pick<Command, "name" | "usage">, positionals: string[], count: number): void {
  if (positionals.length !== count) {
    throw new TbuildError("invalid-argument", `${cmd.name} takes ${count} argument${count === 1 ? "" : "s"}, got ${positionals.length}`, { hint: `usage: ${cmd.usage}` });
  }
}

/** Parses sizes like docker's --keep-storage: 512, 10k, 1.5GB, 2GiB (binary multiples). */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (m === null) throw new TbuildError("invalid-argument", `${flag}: '${s}' is not a size`, { hint: "write a number of bytes, optionally with k, m, g or t (e.g. 10GB)" });
  const power = ["", "k", "m", "g", "t"].indexOf((m[2] ?? "").toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/**
 * `--build-arg K=V` values; a bare `--build-arg K` takes K from the environment,
 * as docker build does.
 */
export function buildArgsOption(values: string[] | undefined): Record<string, string> {
  const args: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf("=");
    const key = eq === -1 ? item : item.slice(0, eq);
    if (key === "") throw new TbuildError("invalid-argument", `invalid --build-arg '${item}'`, { hint: "write --build-arg NAME=VALUE" });
    if (eq !== -1) args[key] = item.slice(eq + 1);
    else if (process.env[key] !== undefined) args[key] = process.env[key]!;
  }
  return args;
}
