import { DockerfileError } from "./errors.js";

/** Parser directives, read only from the top of the file as Docker defines. */
export interface Directives {
  escape: string;
  syntax?: string;
  check?: string;
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN = new Set(["syntax", "escape", "check"]);

/**
 * Reads directives from the leading lines. Stops at the first line that is not a
 * known directive (a blank line, another comment, an instruction): after that a
 * `# escape=` line is an ordinary comment. Returns how many lines were directives.
 */
export function readDirectives(lines: string[], file: string): { directives: Directives; count: number } {
  const directives: Directives = { escape: "\\" };
  const seen = new Set<string>();
  let count = 0;
  for (const raw of lines) {
    const match = DIRECTIVE.exec(raw.trimStart());
    if (match === null) break;
    const key = match[1]!.toLowerCase();
    if (!KNOWN.has(key)) break;
    if (seen.has(key)) {
      throw new DockerfileError(file, count + 1, 1, `only one ${key} parser directive can be used`);
    }
    seen.add(key);
    const value = match[2]!;
    if (key === "escape") {
      if (value !== "\\" && value !== "`") {
        throw new DockerfileError(file, count + 1, 1, `invalid escape character '${value}'`, "use # escape=\\ or # escape=`");
      }
      directives.escape = value;
    } else if (key === "syntax") directives.syntax = value;
    else directives.check = value;
    count++;
  }
  return { directives, count };
}
