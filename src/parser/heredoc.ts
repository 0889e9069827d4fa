import { SyntaxProblem } from "./errors.js";
import { rawWords } from "./words.js";

/** A heredoc as written: its body is raw (expanded later only if `expand`). */
export interface Heredoc {
  name: string;
  content: string;
  expand: boolean;
  chomp: boolean;
}

const MARKER = /^(\d*)<<(-?)([^<]*)$/;

/** The heredoc a word opens (`<<EOF`, `<<-'EOF'`, `3<<"EOF"`), or undefined. */
export function heredocMarker(word: string): { name: string; expand: boolean; chomp: boolean } | undefined {
  const match = MARKER.exec(word);
  if (match === null) return undefined;
  const chomp = match[2] === "-";
  const rest = match[3]!;
  if (rest === "") return undefined;
  const unquoted = rest.replace(/'([^']*)'|"([^"]*)"/g, (_m, a: string | undefined, b: string | undefined) => a ?? b ?? "");
  if (unquoted === "" || /\s|['"]/.test(unquoted)) return undefined;
  return { name: unquoted, expand: unquoted === rest, chomp };
}

/** Markers in an instruction line, in order. */
export function heredocMarkers(text: string, escape: string): { name: string; expand: boolean; chomp: boolean }[] {
  const found: { name: string; expand: boolean; chomp: boolean }[] = [];
  for (const word of rawWords(text, escape)) {
    const marker = heredocMarker(word);
    if (marker !== undefined) found.push(marker);
  }
  return found;
}

/**
 * Reads the bodies of `markers` from `lines` starting at index `from`; returns the
 * heredocs and the index of the first line after the last terminator.
 */
export function readHeredocBodies(
  markers: { name: string; expand: boolean; chomp: boolean }[],
  lines: string[],
  from: number,
): { heredocs: Heredoc[]; next: number } {
  const heredocs: Heredoc[] = [];
  let i = from;
  for (const marker of markers) {
    let content = "";
    let terminated = false;
    while (i < lines.length) {
      const line = lines[i++]!;
      const candidate = marker.chomp ? line.replace(/^\t+/, "") : line;
      if (candidate === marker.name) {
        terminated = true;
        break;
      }
      content += (marker.chomp ? line.replace(/^\t+/, "") : line) + "\n";
    }
    if (!terminated) {
      throw new SyntaxProblem(`unterminated heredoc: no line '${marker.name}' ends it`, `end the heredoc with a line containing only ${marker.name}`);
    }
    heredocs.push({ ...marker, content });
  }
  return { heredocs, next: i };
}
