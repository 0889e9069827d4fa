/**
 * Splits text into words on whitespace, keeping quotes and escapes as written
 * (BuildKit's parseWords): ENV and LABEL pairs and heredoc markers need the
 * quotes intact, to be removed by expansion later.
 */
export function rawWords(text: string, escape: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote !== null) {
      word += ch;
      if (ch === escape && quote === '"' && i + 1 < text.length) word += text[++i];
      else if (ch === quote) quote = null;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    word += ch;
    if (ch === escape && i + 1 < text.length) word += text[++i];
    else if (ch === "'" || ch === '"') quote = ch;
  }
  if (inWord) words.push(word);
  return words;
}


/** Splits on runs of whitespace, ignoring quotes (BuildKit's parseStringsWhitespaceDelimited). */
export function whitespaceWords(text: string): string[] {
  const t = text.trim();
  return t === "" ? [] : t.split(/[ \t\v\f\r\n]+/);
}

/** A JSON array of strings, `undefined` when the text is not JSON, or an error for a non-string array. */
export function jsonArray(text: string): string[] | undefined | "not-strings" {
  const t = text.trimStart();
  if (!t.startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  return value.every((x) => typeof x === "string") ? (value as string[]) : "not-strings";
}
