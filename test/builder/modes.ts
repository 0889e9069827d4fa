/**
 * Runs the tbuild CLI as root and, with the same inputs, as the real non-root user
 * `tbuildtest` (test/setup/rootless.ts), so every sandbox test covers both modes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chownTree, rootlessEnv, TEST_USER } from "../setup/rootless.js";
import { context } from "./helpers.js";

export type Mode = "root" | "rootless";

/** The modes this machine can test: rootless only when the tests run as root (which creates the test user) where newuidmap can work. */
export const MODES: Mode[] = rootlessEnv() !== undefined ? ["root", "rootless"] : ["root"];

export interface Workspace {
  mode: Mode;
  /** The build context (busybox plus the given files), owned by the mode's user. */
  ctx: string;
  /** The store, inside a directory the mode's user owns. */
  root: string;
  /** argv prefix that runs the CLI as the mode's user: ["runuser", ...] or [node, main.js]. */
  cli(args: string[]): string[];
}

/** A context with `files` (plus anything `prepare` puts in it) and a fresh store, for one mode. */
export function workspace(mode: Mode, files: Record<string, string>, prepare?: (ctx: string) => void): Workspace {
  const repoMain = path.resolve(import.meta.dirname, "../../dist/cli/main.js");
  if (mode === "root") {
    const ctx = context(files);
    prepare?.(ctx);
    const root = mkdtempSync(path.join(tmpdir(), "tbuild-root-"));
    return { mode, ctx, root, cli: (args) => [process.execPath, repoMain, ...args] };
  }
  const env = rootlessEnv()!;
  const work = env.workDir();
  const ctx = context(files, work);
  prepare?.(ctx);
  chownTree(work, env.uid, env.gid);
  const main = path.join(env.app, "dist/cli/main.js");
  return { mode, ctx, root: path.join(work, "store"), cli: (args) => ["runuser", "-u", TEST_USER, "--", "env", `HOME=/home/${TEST_USER}`, process.execPath, main, ...args] };
}

/** `tbuild build` in the workspace; returns status and everything it printed. Asynchronous: a synchronous spawn would stall vitest's worker. */
export function cliBuild(ws: Workspace, args: string[] = [], env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
  const [cmd, ...rest] = ws.cli(["build", "--root", ws.root, ...args, ws.ctx]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { stdio: ["ignore", "pipe", "pipe"], cwd: "/", timeout: 180_000, env: { ...process.env, ...env } });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, output }));
  });
}

/**
 * Starts `tbuild build` through `sh`, which first writes its pid (then tbuild's, by exec)
 * to a file and opens `extraFd` (0-9: dash takes one digit) on `/` when given: tests kill it or look at what leaks.
 */
export function startBuild(ws: Workspace, args: string[], o: { pidFile: string; extraFd?: number }): ChildProcess {
  const argv = ws.cli(["build", "--root", ws.root, ...args, ws.ctx]);
  const fdOpen = o.extraFd === undefined ? "" : `exec ${o.extraFd}</ && `;
  const inner = ws.mode === "root" ? argv : argv.slice(argv.indexOf("--") + 1);
  const script = `echo $$ > '${o.pidFile}' && ${fdOpen}exec "$@"`;
  const full = ws.mode === "root" ? ["sh", "-c", script, "sh", ...inner] : ["runuser", "-u", TEST_USER, "--", "sh", "-c", script, "sh", ...inner];
  return spawn(full[0]!, full.slice(1), { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
}
