// Table-driven parser tests: every directory in test/parser-cases/ holds a
// Dockerfile plus expected.json (the `tbuild parse --json` form, see
// docs/parse-json.md) or expected-error.json ({ line, message, suggest? }).
// Optional options.json: { buildArgs?, target? }.
import { readdirSync, readFileSync, existsSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseDockerfile, toJson, DockerfileError } from "../../src/parser/index.js";

const casesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "parser-cases");

interface CaseOptions {
  buildArgs?: Record<string, string>;
  target?: string;
}
interface ExpectedError {
  /** 1-based line of the error; null when Docker reports no source position (checked only to be >= 1). */
  line: number | null;
  /** Case-insensitive substring of the error message; an array lists accepted alternatives (Docker's wording first). */
  message: string | string[];
  /** A word that must appear (as a whole word, case-insensitive) in message or hint: the suggestion. */
  suggest?: string;
}

const caseNames = readdirSync(casesDir)
  .filter((n) => statSync(join(casesDir, n)).isDirectory())
  .sort();

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

describe("parser cases", () => {
  it("has a corpus", () => {
    expect(caseNames.length).toBeGreaterThanOrEqual(70);
  });

  for (const name of caseNames) {
    const dir = join(casesDir, name);
    it(name, () => {
      const text = readFileSync(join(dir, "Dockerfile"), "utf8");
      const options: CaseOptions = existsSync(join(dir, "options.json"))
        ? readJson<CaseOptions>(join(dir, "options.json"))
        : {};
      const opts = { file: "Dockerfile", ...options };

      if (existsSync(join(dir, "expected-error.json"))) {
        const want = readJson<ExpectedError>(join(dir, "expected-error.json"));
        let thrown: unknown;
        let result: unknown;
        try {
          result = toJson(parseDockerfile(text, opts));
        } catch (e) {
          thrown = e;
        }
        expect(thrown, `expected an error, got ${JSON.stringify(result)}`).toBeInstanceOf(DockerfileError);
        const e = thrown as InstanceType<typeof DockerfileError>;
        expect(e.file).toBe("Dockerfile");
        expect(e.line).toBeGreaterThanOrEqual(1);
        if (want.line !== null) expect(e.line).toBe(want.line);
        const alternatives = (Array.isArray(want.message) ? want.message : [want.message]).map((m) => m.toLowerCase());
        const msg = e.message.toLowerCase();
        expect(alternatives.some((m) => msg.includes(m)), `message ${JSON.stringify(e.message)} should contain one of ${JSON.stringify(alternatives)}`).toBe(true);
        if (want.suggest !== undefined) {
          const text = `${e.message} ${e.hint ?? ""}`;
          expect(text).toMatch(new RegExp(`\\b${want.suggest}\\b`, "i"));
        }
        return;
      }

      const expected = readJson<unknown>(join(dir, "expected.json"));
      const actual = toJson(parseDockerfile(text, opts));
      // Round-trip through JSON: the documented form is what `tbuild parse --json` prints.
      expect(JSON.parse(JSON.stringify(actual))).toEqual(expected);
    });
  }
});
