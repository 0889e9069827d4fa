/**
 * The npm package as a user gets it: `npm pack` (with its clean prepack build) on a copy
 * of the sources, `npm i -g` of the tarball into a temporary prefix, and a build with a
 * RUN step through the installed `tbuild` bin, as root and as a normal user. The RUN
 * helpers must come prebuilt in the tarball: nothing is compiled at install time.
 */
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { rootlessEnv } from "../setup/rootless.js";
import { BUSYBOX_BASE, context, umociUnpack } from "../builder/helpers.js";

const repo = path.resolve(import.meta.dirname, "../..");
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

/** The CPU an ELF file is for, and whether it asks for a dynamic loader (PT_INTERP). */
function elfInfo(file: string): { machine: number; dynamic: boolean } {
  const b = readFileSync(file);
  expect(b.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  let dynamic = false;
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) dynamic = true;
  return { machine: b.readUInt16LE(18), dynamic };
}

/** Runs a command without blocking the test worker (packing takes a minute or two). */
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    return (await promisify(execFile)(cmd, args, { cwd, encoding: "utf8", timeout: 600_000, maxBuffer: 16 << 20 })).stdout;
  } catch (e) {
    const { stdout, stderr, signal } = e as { stdout?: string; stderr?: string; signal?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed${signal ? ` (${signal})` : ""}: ${(e as Error).message}\n${stdout ?? ""}\n${stderr ?? ""}`);
  }
}

describe("the npm package", () => {
  let work: string;
  let prefix: string;
  let tarball: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "tbuild-pack-"));
    chmodSync(work, 0o755);
    // Packing runs prepack, which empties dist/: pack a copy, never the tree other tests run from.
    const src = path.join(work, "src");
    for (const part of ["package.json", "package-lock.json", "tsconfig.json", "LICENSE", "README.md", "src", "scripts"]) {
      cpSync(path.join(repo, part), path.join(src, part), { recursive: true });
    }
    symlinkSync(path.join(repo, "node_modules"), path.join(src, "node_modules"));
    const name = (await run("npm", ["pack", "--pack-destination", work], src)).trim().split("\n").pop() as string;
    tarball = path.join(work, name);
    prefix = path.join(work, "prefix");
    mkdirSync(prefix);
    // The dependencies are in npm's cache after `npm ci`; a fresh machine would fetch them.
    await run("npm", ["install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball], work);
  }, 1_200_000);

  it("holds the built code, the license and static helpers for x64 and arm64, and no sources or maps", () => {
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean);
    expect(files).toContain("package/LICENSE");
    expect(files).toContain("package/dist/cli/main.js");
    expect(files).toContain("package/dist/cli/tbuild.cjs");
    expect(files).toContain("package/dist/index.d.ts");
    expect(files.filter((f) => f.endsWith(".map") || f.startsWith("package/src/") || f.startsWith("package/test/"))).toEqual([]);
    const installed = path.join(prefix, "lib/node_modules/tbuild/dist/native");
    for (const [arch, machine] of Object.entries(ELF_MACHINE)) {
      for (const helper of ["tbuild-run-init", "tbuild-run-chroot", "tbuild-xattrs"]) {
        expect(files).toContain(`package/dist/native/linux-${arch}/${helper}`);
        expect(elfInfo(path.join(installed, `linux-${arch}`, helper))).toEqual({ machine, dynamic: false });
      }
    }
    const manifest = JSON.parse(readFileSync(path.join(prefix, "lib/node_modules/tbuild/package.json"), "utf8")) as { license: string };
    expect(manifest.license).toBe("Apache-2.0");
    expect(readFileSync(path.join(prefix, "lib/node_modules/tbuild/LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0/);
  });

  it("builds an image with RUN steps through the installed tbuild bin", async () => {
    const bin = path.join(prefix, "bin/tbuild");
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN echo built by the package > /out.txt && mkdir /d && touch /d/f\nRUN rm /d/f\n` }, work);
    const root = path.join(work, "store");
    const out = path.join(work, "rootfs");
    await run(bin, ["build", "--root", root, "-t", "packed:1", ctx], work);
    await run(bin, ["save", "--root", root, "packed:1", "--format", "local", "-o", out], work);
    expect(readFileSync(path.join(out, "out.txt"), "utf8")).toBe("built by the package\n");
    expect(readdirSync(path.join(out, "d"))).toEqual([]);
  });

  it.runIf(rootlessEnv() !== undefined)("builds with RUN as a normal user with a subordinate id range, keeping image owners", async () => {
    const env = rootlessEnv()!;
    const dir = env.workDir();
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN mkdir -p /home/app && echo mine > /home/app/x && chown 1234:1234 /home/app/x\n` }, dir);
    chmodSync(ctx, 0o755);
    const store = path.join(dir, "store");
    const build = await env.run(path.join(prefix, "bin/tbuild"), ["build", "--root", store, "-t", "packed:2", ctx], { cwd: dir });
    expect(build.stderr).not.toMatch(/hint:/);
    expect(build.status).toBe(0);
    const file = path.join(await umociUnpack(store, "docker.io/library/packed:2"), "home/app/x");
    expect(readFileSync(file, "utf8")).toBe("mine\n");
    expect(statSync(file).uid).toBe(1234);
  });
});
