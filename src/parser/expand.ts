import { SyntaxProblem } from "./errors.js";
import { LIMITS } from "./limits.js";
import { lexWord, type Part } from "./shell-lexer.js";

/** Looks a variable up: a string when set (possibly empty), undefined when unset. */
export type Lookup = (name: string) => string | undefined;

/**
 * Expands one word as Docker does for ENV, LABEL, WORKDIR, COPY and the like:
 * quotes are removed, escapes applied, variables substituted. Whitespace is kept.
 */
export function expandWord(input: string, lookup: Lookup, escape: string): string {
  return evaluate(lexWord(input, escape), lookup, escape)
    .map((p) => p.value)
    .join("");
}

/**
 * Expands and splits into words, as Docker does for EXPOSE and FROM: unquoted
 * whitespace (also inside unquoted variable values) separates words.
 */
export function expandWords(input: string, lookup: Lookup, escape: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (const piece of evaluate(lexWord(input, escape), lookup, escape)) {
    if (piece.kind === "space") {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else if (piece.quoted) {
      current = (current ?? "") + piece.value;
    } else {
      // An unquoted expansion splits on whitespace like the text around it.
      const chunks = piece.value.split(/[ \t\r\n\v\f]+/);
      chunks.forEach((chunk, i) => {
        if (i > 0) {
          if (current !== undefined) words.push(current);
          current = undefined;
        }
        if (chunk !== "") current = (current ?? "") + chunk;
      });
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

type Piece = { kind: "space"; value: string } | { kind: "text"; value: string; quoted: boolean };

let budget = Number.POSITIVE_INFINITY;

/** Runs one parse with at most LIMITS.totalChars characters of expansion output among all its words. */
export function withExpansionBudget<T>(fn: () => T): T {
  const saved = budget;
  budget = LIMITS.totalChars;
  try {
    return fn();
  } finally {
    budget = saved;
  }
}

function evaluate(parts: Part[], lookup: Lookup, escape: string): Piece[] {
  const out: Piece[] = [];
  let chars = 0;
  for (const part of parts) {
    const piece: Piece = part.kind === "space" ? part : { kind: "text", value: part.kind === "text" ? part.value : substitute(part, lookup, escape), quoted: part.quoted };
    chars += piece.value.length;
    if (part.kind === "param") budget -= piece.value.length;
    // Checked as it grows, before a doubling chain reaches V8's string limit.
    if (chars > LIMITS.wordChars) throw new SyntaxProblem(`a word expands to more than ${LIMITS.wordChars} characters`, "variables that refer to themselves ($A$A) double with each use");
    if (budget < 0) throw new SyntaxProblem(`variable expansions in this Dockerfile add up to more than ${LIMITS.totalChars} characters`, "variables that refer to themselves ($A$A) double with each use");
    out.push(piece);
  }
  return out;
}

function flatten(parts: Part[] | undefined, lookup: Lookup, escape: string): string {
  if (parts === undefined) return "";
  return evaluate(parts, lookup, escape)
    .map((p) => p.value)
    .join("");
}

function substitute(part: Part & { kind: "param" }, lookup: Lookup, escape: string): string {
  const value = lookup(part.name);
  const word = (): string => flatten(part.word, lookup, escape);
  switch (part.modifier) {
    case undefined:
      return value ?? "";
    case ":-":
      return value === undefined || value === "" ? word() : value;
    case "-":
      return value === undefined ? word() : value;
    case ":+":
      return value === undefined || value === "" ? "" : word();
    case "+":
      return value === undefined ? "" : word();
    case ":?":
    case "?": {
      const missing = part.modifier === ":?" ? value === undefined || value === "" : value === undefined;
      if (!missing) return value ?? "";
      const message = word();
      throw new SyntaxProblem(
        `${part.name}: ${message === "" ? (part.modifier === ":?" ? "is not allowed to be empty or unset" : "is not allowed to be unset") : message}`,
        `set it with --build-arg ${part.name}=... or an ARG/ENV default`,
      );
    }
    case "#":
    case "##":
    case "%":
    case "%%":
      return trim(value ?? "", globToRegExp(part.word ?? [], lookup, escape), part.modifier);
    case "/":
    case "//":
      return replace(value ?? "", globToRegExp(part.word ?? [], lookup, escape), flatten(part.replacement, lookup, escape), part.modifier === "//");
  }
}

/** Turns a shell pattern into an anchored RegExp; quoted text matches literally. */
function globToRegExp(parts: Part[], lookup: Lookup, escape: string): RegExp {
  let source = "";
  for (const piece of evaluate(parts, lookup, escape)) {
    const text = piece.value;
    if (piece.kind === "text" && !piece.quoted) source += globSource(text);
    else source += text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  }
  return new RegExp(`^(?:${source})$`, "s");
}

function globSource(glob: string): string {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else if (ch === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) re += "\\[";
      else {
        let body = glob.slice(i + 1, close).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body}]`;
        i = close;
      }
    } else re += ch.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
  }
  return re;
}

function trim(value: string, pattern: RegExp, op: "#" | "##" | "%" | "%%"): string {
  const n = value.length;
  if (op === "#") {
    for (let i = 0; i <= n; i++) if (pattern.test(value.slice(0, i))) return value.slice(i);
  } else if (op === "##") {
    for (let i = n; i >= 0; i--) if (pattern.test(value.slice(0, i))) return value.slice(i);
  } else if (op === "%") {
    for (let i = n; i >= 0; i--) if (pattern.test(value.slice(i))) return value.slice(0, i);
  } else {
    for (let i = 0; i <= n; i++) if (pattern.test(value.slice(i))) return value.slice(0, i);
  }
  return value;
}

/** Replaces the longest match at the leftmost position (all of them with `global`). */
function replace(value: string, pattern: RegExp, replacement: string, global: boolean): string {
  let out = "";
  let start = 0;
  while (start <= value.length) {
    let matched = -1;
    for (let end = value.length; end > start; end--) {
      if (pattern.test(value.slice(start, end))) {
        matched = end;
        break;
      }
    }
    if (matched === -1) {
      if (start < value.length) out += value[start];
      start++;
      continue;
    }
    out += replacement;
    start = matched;
    if (!global) return out + value.slice(start);
  }
  return out;
}
