import { SyntaxProblem } from "./errors.js";
import { nearest } from "./suggest.js";
import type { FlagValue } from "./types.js";

export interface FlagSpec {
  kind: "string" | "bool" | "list";
  /** Docker applies variable expansion to this flag's value. */
  expand?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

/**
 * Gives meaning to `--name=value` words against what the instruction accepts, values
 * as written (`expand` marks those to expand where the instruction is used).
 * Unknown flags, duplicates and bad booleans are errors, with a hint for typos.
 */
export function parseFlags(keyword: string, words: string[], specs: FlagSpecs): Record<string, FlagValue> {
  const flags: Record<string, FlagValue> = {};
  for (const word of words) {
    const body = word.slice(2);
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const value = eq === -1 ? undefined : body.slice(eq + 1);
    const spec = specs[name];
    if (spec === undefined) {
      const known = Object.keys(specs);
      const guess = nearest(name, known);
      throw new SyntaxProblem(
        `unknown flag: --${name} for ${keyword}`,
        guess !== undefined ? `did you mean --${guess}?` : known.length > 0 ? `${keyword} accepts ${known.map((k) => `--${k}`).join(", ")}` : `${keyword} takes no flags`,
      );
    }
    if (spec.kind === "bool") {
      if (name in flags) throw new SyntaxProblem(`duplicate flag specified: --${name}`);
      if (value === undefined || value === "true") flags[name] = true;
      else if (value === "false") flags[name] = false;
      else throw new SyntaxProblem(`expecting boolean value for flag --${name}, not: ${value}`);
      continue;
    }
    if (value === undefined) throw new SyntaxProblem(`missing a value on flag: --${name}`, `write --${name}=VALUE`);
    if (spec.kind === "list") {
      const list = (flags[name] as string[] | undefined) ?? [];
      list.push(value);
      flags[name] = list;
    } else {
      if (name in flags) throw new SyntaxProblem(`duplicate flag specified: --${name}`);
      flags[name] = value;
    }
  }
  return flags;
}
