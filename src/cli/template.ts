import { TbuildError } from "../errors.js";
import { nearest } from "../parser/suggest.js";

/**
 * docker's `--format` for listings, the part people use: `{{.Field}}` placeholders with
 * `\t` and `\n` escapes, `{{json .}}` for the whole row, `table ...` for aligned columns
 * with headers, and `json` for one JSON object per line. Go's template language beyond
 * that (pipes, functions, conditionals) is refused with a message, not half-run.
 */
export interface Listing {
  /** Field name → its docker-style header (`ID` → `IMAGE ID`). */
  headers: Record<string, string>;
  rows: Record<string, string>[];
}

type Part = { text: string } | { field: string } | { json: true };

function parse(template: string, fields: string[], flag: string): Part[] {
  const parts: Part[] = [];
  const text = template.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  let last = 0;
  for (const m of text.matchAll(/\{\{\s*(.*?)\s*\}\}/g)) {
    parts.push({ text: text.slice(last, m.index) });
    last = m.index + m[0].length;
    const action = m[1]!;
    if (action === "json .") {
      parts.push({ json: true });
      continue;
    }
    const field = /^\.([A-Za-z]\w*)$/.exec(action)?.[1];
    if (field === undefined) {
      throw new TbuildError("not-implemented", `${flag}: '{{${action}}}' is not supported`, { hint: `use {{.Field}} placeholders or {{json .}}; fields: ${fields.join(", ")}` });
    }
    if (!fields.includes(field)) {
      const guess = nearest(field, fields);
      throw new TbuildError("invalid-argument", `${flag}: there is no field .${field}${guess === undefined ? "" : `; did you mean .${guess}?`}`, { hint: `fields: ${fields.join(", ")}` });
    }
    parts.push({ field });
  }
  parts.push({ text: text.slice(last) });
  return parts.filter((p) => !("text" in p) || p.text !== "");
}

function render(parts: Part[], row: Record<string, string>): string {
  return parts.map((p) => ("text" in p ? p.text : "json" in p ? JSON.stringify(sortedKeys(row)) : (row[p.field] ?? ""))).join("");
}

/** Columns separated by tabs in the template, padded to line up, as docker's tabwriter does. */
export function alignColumns(lines: string[]): string {
  const cells = lines.map((l) => l.split("\t"));
  const widths: number[] = [];
  for (const row of cells) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]! + 3))).join("").trimEnd() + "\n").join("");
}

/** The listing written the way `--format` asks. */
export function formatListing(listing: Listing, format: string, flag = "--format"): string {
  const fields = Object.keys(listing.headers);
  if (format === "json") return listing.rows.map((r) => JSON.stringify(sortedKeys(r)) + "\n").join("");
  const table = /^table(\s|$)/.test(format);
  const parts = parse(table ? format.slice("table".length).trim() : format, fields, flag);
  const lines = listing.rows.map((r) => render(parts, r));
  if (!table) return lines.map((l) => l + "\n").join("");
  const header = parts.map((p) => ("text" in p ? p.text : "json" in p ? "" : (listing.headers[p.field] ?? p.field))).join("");
  return alignColumns([header, ...lines]);
}

/** docker's json format lists fields in name order. */
function sortedKeys(row: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(row).sort(([a], [b]) => a.localeCompare(b)));
}
