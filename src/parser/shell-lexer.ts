import moo from "moo";
import { SyntaxProblem } from "./errors.js";
import { LIMITS } from "./limits.js";

/**
 * The small shell-word language Docker uses for variable expansion, as a moo lexer
 * with states (unquoted, double-quoted, inside `${...}`) and a recursive parser
 * over its tokens. The escape character is the Dockerfile's (`\` or `` ` ``).
 */

export type Modifier = ":-" | "-" | ":+" | "+" | ":?" | "?" | "#" | "##" | "%" | "%%" | "/" | "//";

export type Part =
  | { kind: "text"; value: string; quoted: boolean }
  | { kind: "space"; value: string }
  | { kind: "param"; name: string; quoted: boolean; modifier?: Modifier; word?: Part[]; replacement?: Part[] };

const lexers = new Map<string, moo.Lexer>();

function escapeRe(ch: string): string {
  return ch.replace(/[\\^$.*+?()[\]{}|`]/g, "\\$&");
}

function lexerFor(escape: string): moo.Lexer {
  const cached = lexers.get(escape);
  if (cached !== undefined) return cached;
  const esc = escapeRe(escape);
  const name = /\$[A-Za-z_][A-Za-z0-9_]*/;
  const common = {
    braceOpen: { match: "${", push: "brace" },
    dollarName: name,
    dollarDigit: /\$[0-9]/,
  };
  const lexer = moo.states({
    main: {
      escaped: { match: new RegExp(`${esc}[^]?`), lineBreaks: true },
      space: { match: /[ \t\r\n\v\f]+/, lineBreaks: true },
      squote: { match: /'[^']*'/, lineBreaks: true },
      squoteOpen: "'",
      dquote: { match: '"', push: "dq" },
      ...common,
      dollar: "$",
      text: { match: new RegExp(`[^${esc}'"$ \\t\\r\\n\\v\\f]+`), lineBreaks: true },
    },
    dq: {
      dquoteClose: { match: '"', pop: 1 },
      escaped: { match: new RegExp(`${esc}[^]?`), lineBreaks: true },
      ...common,
      dollar: "$",
      text: { match: new RegExp(`[^${esc}"$]+`), lineBreaks: true },
    },
    brace: {
      paramName: { match: /[A-Za-z_][A-Za-z0-9_]*|[0-9]/, next: "braceOp" },
      bad: { match: /[^]/, lineBreaks: true },
    },
    braceOp: {
      braceClose: { match: "}", pop: 1 },
      modifier: { match: /:-|:\+|:\?|##|%%|\/\/|[-+?#%/]/, next: "braceWord" },
      bad: { match: /[^]/, lineBreaks: true },
    },
    braceWord: {
      braceClose: { match: "}", pop: 1 },
      escaped: { match: new RegExp(`${esc}[^]?`), lineBreaks: true },
      squote: { match: /'[^']*'/, lineBreaks: true },
      squoteOpen: "'",
      dquote: { match: '"', push: "dq" },
      ...common,
      dollar: "$",
      slash: "/",
      text: { match: new RegExp(`[^${esc}'"$}/]+`), lineBreaks: true },
    },
  });
  lexers.set(escape, lexer);
  return lexer;
}

/** Parses `input` into parts; throws SyntaxProblem on unterminated quotes or `${`. */
export function lexWord(input: string, escape: string): Part[] {
  const lexer = lexerFor(escape);
  lexer.reset(input);
  const tokens: moo.Token[] = [];
  for (let t = lexer.next(); t !== undefined; t = lexer.next()) tokens.push(t);
  let pos = 0;

  const parseSeq = (quoted: boolean, stop: (t: moo.Token) => boolean): Part[] => {
    const parts: Part[] = [];
    const text = (value: string, q = quoted): void => {
      const last = parts[parts.length - 1];
      if (last !== undefined && last.kind === "text" && last.quoted === q) last.value += value;
      else parts.push({ kind: "text", value, quoted: q });
    };
    while (pos < tokens.length) {
      const t = tokens[pos]!;
      if (stop(t)) return parts;
      pos++;
      switch (t.type) {
        case "space":
          parts.push({ kind: "space", value: t.value });
          break;
        case "text":
        case "dollar":
        case "slash":
          text(t.value);
          break;
        case "escaped": {
          const ch = t.value.slice(escape.length);
          // Inside double quotes only ", $ and the escape character itself can be escaped.
          if (quoted && ch !== '"' && ch !== "$" && ch !== escape) text(t.value);
          else if (ch !== "") text(ch, true);
          break;
        }
        case "squote":
          text(t.value.slice(1, -1), true);
          break;
        case "squoteOpen":
          throw new SyntaxProblem("unexpected end of text while looking for a matching single quote (')");
        case "dquote": {
          const inner = parseSeq(true, (x) => x.type === "dquoteClose");
          if (tokens[pos]?.type !== "dquoteClose") {
            throw new SyntaxProblem('unexpected end of text while looking for a matching double quote (")');
          }
          pos++;
          // An empty "" still makes a (quoted, empty) word.
          if (inner.length === 0) text("", true);
          parts.push(...inner);
          break;
        }
        case "dollarName":
          parts.push({ kind: "param", name: t.value.slice(1), quoted });
          break;
        case "dollarDigit":
          // Positional parameters do not exist in a Dockerfile: they expand to nothing.
          break;
        case "braceOpen":
          parts.push(parseBrace(quoted));
          break;
        default:
          throw new SyntaxProblem(`unexpected '${t.value}' in '${input}'`);
      }
    }
    return parts;
  };

  let depth = 0;
  const parseBrace = (quoted: boolean): Part => {
    if (++depth > LIMITS.nesting) throw new SyntaxProblem(`\${...} is nested more than ${LIMITS.nesting} deep`, "flatten the expression: set intermediate ARG or ENV values");
    try {
      return parseBraceBody(quoted);
    } finally {
      depth--;
    }
  };
  const parseBraceBody = (quoted: boolean): Part => {
    const nameTok = tokens[pos];
    if (nameTok === undefined || nameTok.type !== "paramName") {
      throw new SyntaxProblem(`bad substitution in '${input}': expected a variable name after '\${'`);
    }
    pos++;
    const param: Part & { kind: "param" } = { kind: "param", name: nameTok.value, quoted };
    const next = tokens[pos];
    if (next?.type === "braceClose") {
      pos++;
      return param;
    }
    if (next?.type !== "modifier") {
      throw new SyntaxProblem(
        next === undefined ? `missing '}' in '${input}'` : `unsupported modifier '${next.value}' in substitution '${input}'`,
      );
    }
    pos++;
    param.modifier = next.value as Modifier;
    if (param.modifier === "/" || param.modifier === "//") {
      param.word = parseSeq(quoted, (x) => x.type === "slash" || x.type === "braceClose");
      if (tokens[pos]?.type === "slash") {
        pos++;
        param.replacement = parseSeq(quoted, (x) => x.type === "braceClose");
      } else {
        param.replacement = [];
      }
    } else {
      param.word = parseSeq(quoted, (x) => x.type === "braceClose");
    }
    if (tokens[pos]?.type !== "braceClose") throw new SyntaxProblem(`missing '}' in '${input}'`);
    pos++;
    return param;
  };

  const parts = parseSeq(false, () => false);
  return parts;
}
