/**
 * No test waits synchronously for a child that can take long: the CLI (a build, a push, a
 * pull), a rootless command, umoci or skopeo. Such a wait stalls the vitest worker's thread,
 * and under load vitest's 60 s RPC deadline then fails the whole run ("Timeout calling
 * onTaskUpdate") although every test passed. Use spawnAsync (./spawn.ts) or cli/helpers' tbuild().
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const LONG = /\b(?:spawnSync|execFileSync|execSync)\(\s*(?:process\.execPath|cli\b|"runuser"|"umoci"|"skopeo"|"bash"|"(?:[^"]*\/)?tbuild")/g;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "fixtures" || e.name === "node_modules" ? [] : sources(p);
    return /\.(?:ts|mjs)$/.test(e.name) ? [p] : [];
  });
}

describe("the test suite", () => {
  it("runs long child processes asynchronously", () => {
    const root = path.resolve(import.meta.dirname, "..");
    const found = sources(root).flatMap((file) => {
      const text = readFileSync(file, "utf8");
      return [...text.matchAll(LONG)].map((m) => `${path.relative(root, file)}:${text.slice(0, m.index).split("\n").length}: ${m[0]}`);
    });
    expect(found).toEqual([]);
  });
});
