/**
 * The CLI keeps V8's compiled code per command in the user's cache directory
 * (src/cli/main.ts). A cache is code that runs, so it is kept only where the user alone
 * can write: root under `sudo` with the invoking user's HOME must neither run a cache
 * that user could plant nor leave root-owned files in their home.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tbuild } from "./helpers.js";

const isRoot = process.geteuid?.() === 0;

function cacheFiles(home: string): string[] {
  const dir = path.join(home, ".cache", "tbuild", "code-cache");
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe("the CLI's code cache", () => {
  it("is kept in the user's own home, one file per command, and reused", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "tbuild-home-"));
    const first = await tbuild(["version"], { env: { HOME: home, XDG_CACHE_HOME: "" } });
    expect(first.code).toBe(0);
    const files = cacheFiles(home);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^version-/);
    expect(statSync(path.join(home, ".cache", "tbuild", "code-cache", files[0]!)).mode & 0o077).toBe(0);
    const again = await tbuild(["version"], { env: { HOME: home, XDG_CACHE_HOME: "" } });
    expect(again.stdout).toBe(first.stdout);
    expect(cacheFiles(home)).toEqual(files);
  });

  it.skipIf(!isRoot)("is neither read nor written by root in a home another user owns, nor in a shared directory", async () => {
    const other = mkdtempSync(path.join(tmpdir(), "tbuild-home-"));
    const planted = path.join(other, ".cache", "tbuild", "code-cache");
    mkdirSync(planted, { recursive: true });
    for (const p of [other, path.join(other, ".cache"), path.join(other, ".cache", "tbuild"), planted]) chownSync(p, 65534, 65534);
    const r = await tbuild(["version"], { env: { HOME: other, XDG_CACHE_HOME: "" } });
    expect(r.code).toBe(0);
    expect(readdirSync(planted)).toEqual([]);

    const shared = mkdtempSync(path.join(tmpdir(), "tbuild-shared-"));
    chmodSync(shared, 0o1777);
    const s = await tbuild(["version"], { env: { XDG_CACHE_HOME: path.join(shared, "cache") } });
    expect(s.code).toBe(0);
    expect(readdirSync(shared)).toEqual([]);
  });
});
