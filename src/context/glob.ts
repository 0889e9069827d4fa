/**
 * Go's filepath.Match for one path component, which is what COPY source
 * wildcards use: `*` and `?` never match `/`, `[...]` is a class (`^` negates),
 * a backslash escapes.
 */
export function componentMatcher(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "\\" && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) re += "\\[";
      else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith("^") || body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`, "s");
}

export function hasWildcard(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}
