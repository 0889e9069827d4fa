/**
 * A machine without an OS program tbuild uses: the error names the Debian package to
 * install, never a raw `spawn X ENOENT` or a stack trace.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { context } from "../builder/helpers.js";
import { tbuild } from "./helpers.js";

/** A PATH directory holding every program of /usr/bin and /usr/sbin except `without`. */
function pathWithout(without: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), "tbuild-path-"));
  const bin = path.join(dir, "bin");
  mkdirSync(bin);
  for (const from of ["/usr/sbin", "/usr/bin"]) {
    for (const name of readdirSync(from)) {
      if (without.includes(name)) continue;
      try {
        symlinkSync(path.join(from, name), path.join(bin, name));
      } catch {
        // Both directories have it: the first one wins, as on PATH.
      }
    }
  }
  return bin;
}

function expectPackageHint(r: { code: number; stderr: string }, pkg: string): void {
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`apt-get install ${pkg}`);
  expect(r.stderr).not.toMatch(/ENOENT|\n\s+at /);
}

describe("a missing OS program", () => {
  it("zstd: --compression zstd names the zstd package", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" });
    const root = mkdtempSync(path.join(tmpdir(), "tbuild-root-"));
    const r = await tbuild(["build", "--root", root, "--compression", "zstd", ctx], { env: { PATH: pathWithout(["zstd"]) } });
    expectPackageHint(r, "zstd");
  });

  it("xz: ADD of a .tar.xz names xz-utils", async () => {
    const ctx = context({ Dockerfile: "FROM scratch\nADD files.tar.xz /\n", "f.txt": "x\n" });
    execFileSync("tar", ["-cJf", path.join(ctx, "files.tar.xz"), "-C", ctx, "f.txt"]);
    const root = mkdtempSync(path.join(tmpdir(), "tbuild-root-"));
    const r = await tbuild(["build", "--root", root, ctx], { env: { PATH: pathWithout(["xz"]) } });
    expectPackageHint(r, "xz-utils");
  });
});
