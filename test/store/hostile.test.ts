/**
 * Hostile files and other local users: a new store and its snapshots are the owner's
 * alone (no other user can reach a setuid file unpacked from an image), a cache mount's
 * mode= never opens a host directory to everyone, a context Dockerfile that is a symlink
 * out of the context is refused unread, and extreme Dockerfiles end in located errors.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context } from "../builder/helpers.js";

const cli = join(import.meta.dirname, "..", "..", "dist", "cli", "main.js");

function tbuild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe("a store other users cannot enter", () => {
  it("creates the store, its snapshots and build scratch 0700, and a cache mount with mode=0777 stays behind a 0700 directory", async () => {
    const root = join(mkdtempSync(join(tmpdir(), "tbuild-perm-")), "store");
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN --mount=type=cache,target=/cache,mode=0777 touch /cache/x && cp /bin/busybox /suid && chmod 4755 /suid\n` });
    const r = await tbuild(["build", "--root", root, "-t", "suid", ctx]);
    expect(r.stderr).not.toContain("tbuild:");
    expect(r.code).toBe(0);
    expect(mode(root)).toBe(0o700);
    expect(mode(join(root, "snapshotter"))).toBe(0o700);
    expect(mode(join(root, "snapshotter", "snapshots"))).toBe(0o700);
    expect(mode(join(root, "tmp"))).toBe(0o700);
    expect(mode(join(root, "cache", "mounts"))).toBe(0o700);
  }, 180_000);
});

describe("a context Dockerfile that is a symlink out of the context", () => {
  it("is refused before it is read, so its content is never printed", async () => {
    const secret = join(mkdtempSync(join(tmpdir(), "tbuild-secret-")), "shadow");
    writeFileSync(secret, "root:$6$not-for-your-eyes:19000:0:99999:7:::\n");
    const ctx = mkdtempSync(join(tmpdir(), "tbuild-ctx-"));
    symlinkSync(secret, join(ctx, "Dockerfile"));
    for (const args of [["build", "--root", mkdtempSync(join(tmpdir(), "tbuild-r-")), ctx], ["parse", ctx]]) {
      const r = await tbuild(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the Dockerfile ${join(ctx, "Dockerfile")} is a symlink that leads outside the build context`);
      expect(r.stderr + r.stdout).not.toContain("not-for-your-eyes");
    }
  });
});

describe("parser limits", () => {
  const cases: [string, string, RegExp][] = [
    ["nesting", `FROM scratch\nARG X\nENV Y=${"${X:-".repeat(3000)}a${"}".repeat(3000)}\n`, /^Dockerfile:3:1: \$\{\.\.\.\} is nested more than 64 deep$/m],
    ["stages", ["FROM scratch AS s0", ...Array.from({ length: 20_000 }, (_, i) => `FROM s${i} AS s${i + 1}`)].join("\n") + "\n", /^Dockerfile:1001:1: more than 1000 stages$/m],
    ["doubling", `FROM scratch\nARG A=x\n${"ARG A=$A$A\n".repeat(30)}`, /^Dockerfile:\d+:1: a word expands to more than 1048576 characters$/m],
    ["total output", `FROM scratch\nARG A=${"x".repeat(1000)}\n${Array.from({ length: 20_000 }, (_, i) => `ARG B${i}=$A`).join("\n")}\n`, /^Dockerfile:\d+:1: variable expansions in this Dockerfile add up to more than 16777216 characters$/m],
  ];
  for (const [name, text, message] of cases) {
    it(`${name}: a located error (exit 1), not a crash`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "tbuild-limit-"));
      writeFileSync(join(dir, "Dockerfile"), text);
      const r = await tbuild(["parse", "-f", "Dockerfile", dir].map((a) => (a === "Dockerfile" ? join(dir, a) : a)));
      expect(r.stderr.replace(dir + "/", "")).toMatch(message);
      expect(r.code).toBe(1);
    }, 120_000);
  }
});
