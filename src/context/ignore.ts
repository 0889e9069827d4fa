import ignoreModule from "@balena/dockerignore";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { errnoCode, ioError } from "../errors.js";

/** Decides which context paths COPY and ADD may see. */
export interface IgnoreRules {
  /** `rel` is /-separated and relative to the context root. */
  ignores(rel: string): boolean;
  /** The file the rules came from, or undefined when there was none. */
  source: string | undefined;
}

/**
 * Loads `<Dockerfile>.dockerignore` next to the Dockerfile if present (as BuildKit
 * does), else `.dockerignore` in the context root. Docker's pattern semantics
 * come from @balena/dockerignore, a port of Docker's own matcher.
 */
export async function loadIgnoreRules(contextDir: string, dockerfilePath: string | undefined): Promise<IgnoreRules> {
  const candidates = [
    ...(dockerfilePath === undefined ? [] : [`${dockerfilePath}.dockerignore`]),
    path.join(contextDir, ".dockerignore"),
  ];
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") continue;
      throw ioError(e, `cannot read ${file}`, "check the file's permissions");
    }
    return rulesFromText(text, file);
  }
  return { ignores: () => false, source: undefined };
}

// A CommonJS module whose typings declare an ES default export: at run time the
// default import is the factory itself.
const ignore = ignoreModule as unknown as typeof ignoreModule.default;

export function rulesFromText(text: string, source: string | undefined): IgnoreRules {
  const patterns = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  // No patterns (no --exclude, an empty file): nothing to ask the matcher for each of a
  // large context's paths.
  if (patterns.length === 0) return { ignores: () => false, source };
  const matcher = ignore({}).add(patterns);
  return { ignores: (rel) => rel !== "" && rel !== "." && matcher.ignores(rel), source };
}
