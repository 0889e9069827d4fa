import { readDirectives, type Directives } from "./directives.js";
import { DockerfileError, SyntaxProblem } from "./errors.js";
import { heredocMarkers, readHeredocBodies, type Heredoc } from "./heredoc.js";
import { jsonArray } from "./words.js";

/** One instruction as written, before its arguments are given meaning. */
export interface RawInstruction {
  /** Lower-case keyword, e.g. `run`. */
  keyword: string;
  /** Flags as `--name=value` / `--name`, quotes removed, in order. */
  flags: string[];
  /** The arguments after keyword and flags, continuations joined, trimmed. */
  rest: string;
  startLine: number;
  endLine: number;
  /** 1-based column of the keyword on its first line. */
  column: number;
  heredocs: Heredoc[];
  /** The instruction's text with continuations joined (for history and messages). */
  original: string;
}

export interface RawDockerfile {
  directives: Directives;
  instructions: RawInstruction[];
  /** Lines that were empty continuation lines (Docker warns about them). */
  warnings: { line: number; message: string }[];
}

const HEREDOC_KEYWORDS = new Set(["run", "copy", "add"]);

function isComment(line: string): boolean {
  return line.trimStart().startsWith("#");
}

/**
 * Splits Dockerfile text into instructions the way BuildKit's parser does: comments
 * are dropped, a trailing escape character joins the next line (keeping that line's
 * leading whitespace), comment and blank lines inside a continuation are skipped,
 * and heredoc bodies are read after the line that opens them.
 */
export function splitInstructions(text: string, file: string): RawDockerfile {
  const lines = text.replace(/^\uFEFF/, "").replace(/\r\n/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const { directives } = readDirectives(lines, file);
  const escape = directives.escape;
  const esc = escape === "\\" ? "\\\\" : "`";
  const continuation = new RegExp(`(^|[^${esc}])${esc}[ \\t]*$`);
  const instructions: RawInstruction[] = [];
  const warnings: { line: number; message: string }[] = [];

  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!.trimStart();
    const startLine = i + 1;
    const column = lines[i]!.length - first.length + 1;
    i++;
    if (first.startsWith("#")) continue;
    let line = first;
    let more = continuation.test(line);
    if (more) line = line.replace(continuation, "$1");
    else if (line.trim() === "") continue;
    while (more && i < lines.length) {
      const next = lines[i]!;
      i++;
      if (isComment(next)) continue;
      if (next.trim() === "") {
        warnings.push({ line: i, message: "empty continuation line" });
        continue;
      }
      more = continuation.test(next);
      line += more ? next.replace(continuation, "$1") : next;
    }
    if (line.trim() === "") continue;

    const { keyword, flags, rest } = splitKeyword(line, file, startLine, column);
    let heredocs: Heredoc[] = [];
    let args = rest;
    const nestedKeyword = keyword === "onbuild" ? rest.split(/\s+/, 1)[0]!.toLowerCase() : keyword;
    if (HEREDOC_KEYWORDS.has(nestedKeyword) && !isJsonForm(keyword === "onbuild" ? stripKeyword(rest) : rest)) {
      const markers = heredocMarkers(rest, escape);
      if (markers.length > 0) {
        try {
          const read = readHeredocBodies(markers, lines, i);
          heredocs = read.heredocs;
          // An ONBUILD trigger is stored as text, so it keeps its heredoc bodies as written.
          if (keyword === "onbuild") args = [rest, ...lines.slice(i, read.next)].join("\n");
          i = read.next;
        } catch (e) {
          if (e instanceof SyntaxProblem) throw new DockerfileError(file, startLine, column, e.message, e.hint);
          throw e;
        }
      }
    }
    instructions.push({ keyword, flags, rest: args, startLine, endLine: i, column, heredocs, original: line.trim() });
  }
  return { directives, instructions, warnings };
}

function stripKeyword(text: string): string {
  return text.replace(/^\S+\s*/, "");
}

/** True when the arguments are a JSON array (`["a", "b"]`), which disables heredocs. */
function isJsonForm(rest: string): boolean {
  return Array.isArray(jsonArray(rest));
}

/** Splits `KEYWORD --flag=v --flag2 rest` (BuildKit's splitCommand + extractBuilderFlags). */
export function splitKeyword(line: string, file: string, lineNo: number, column: number): { keyword: string; flags: string[]; rest: string } {
  const trimmed = line.trim();
  const m = /^(\S+)\s*([^]*)$/.exec(trimmed);
  const keyword = (m?.[1] ?? trimmed).toLowerCase();
  let rest = m?.[2] ?? "";
  const flags: string[] = [];
  for (;;) {
    rest = rest.replace(/^[ \t\v\f\r\n]+/, "");
    if (!rest.startsWith("--")) break;
    const { word, length } = readFlagWord(rest, file, lineNo, column);
    rest = rest.slice(length);
    if (word === "--") break;
    flags.push(word);
  }
  return { keyword, flags, rest: rest.trim() };
}

function readFlagWord(text: string, file: string, line: number, column: number): { word: string; length: number } {
  let word = "";
  let quote: string | null = null;
  let i = 0;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quote !== null) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && i + 1 < text.length) word += text[++i];
      else word += ch;
      continue;
    }
    if (/\s/.test(ch)) break;
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "\\" && i + 1 < text.length) word += text[++i];
    else word += ch;
  }
  if (quote !== null) {
    throw new DockerfileError(file, line, column, `unterminated quote in flag '${text.slice(0, i)}'`);
  }
  return { word, length: i };
}
