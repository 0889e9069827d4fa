/**
 * Shared helpers for the I/O benchmarks: temp dirs, timed child processes (with the
 * child's peak RSS from GNU time when it is installed), and streamed data generators
 * that never hold more than one chunk in memory.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";

/** The repository root (dist-bench/bench/util.js is two levels below it). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI the benchmarks drive: `npm run bench` builds dist/ first, RUN helper included. */
export const cliJs = join(repoRoot, "dist", "cli", "main.js");

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `tbuild-bench-${prefix}-`));
}

/** Removes a temp tree after unmounting anything a tool left mounted under it. */
export async function removeTree(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m === dir || m.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync("umount", ["-l", m], { stdio: "ignore" });
  await rm(dir, { recursive: true, force: true });
}

const GNU_TIME = "/usr/bin/time";
export const hasGnuTime = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ["-f", "%M", "true"], { stdio: "ignore" }).status === 0;

export interface RunResult {
  ms: number;
  /** Peak resident set of the command (largest process in its tree), in MiB; NaN without GNU time. */
  maxRssMiB: number;
  stdout: string;
}

/**
 * Runs `cmd args` to completion and times it from spawn to exit. Throws with the tail of
 * stderr on a non-zero exit. Peak RSS comes from `/usr/bin/time -f %M -o FILE` (a file of
 * its own, so it never mixes with the command's stderr).
 */
export async function timed(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const rssFile = join(tmpdir(), `tbuild-bench-rss-${process.pid}-${randomBytes(4).toString("hex")}`);
  const argv = hasGnuTime ? [GNU_TIME, "-f", "%M", "-o", rssFile, cmd, ...args] : [cmd, ...args];
  const start = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout = (stdout + c.toString()).slice(-20000)));
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const rss = hasGnuTime ? await readFile(rssFile, "utf8").catch(() => "") : "";
  await rm(rssFile, { force: true });
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${code}: ${stderr.trim().slice(-1500)}`);
  const kib = parseInt(rss.trim().split("\n").pop() ?? "", 10);
  return { ms, maxRssMiB: Number.isFinite(kib) ? kib / 1024 : NaN, stdout };
}

/** A shell pipeline, timed as one command. */
export function timedShell(script: string, o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return timed("sh", ["-c", script], o);
}

/** xorshift32: fast deterministic numbers, so generated trees are the same on every run. */
export class Prng {
  private x: number;
  constructor(seed: number) {
    this.x = (seed * 2654435761) >>> 0 || 1;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }
}

const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were " +
  "container image layer build registry manifest digest config snapshot overlay gzip tar stream store cache step RUN COPY " +
  "function return const import export await async error value string number buffer handle module package version install"
).split(" ");

/** Text-like bytes (words, lines, numbers): gzip -6 shrinks this roughly 3 to 4 times. */
export function textChunk(rng: Prng, size: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  while (len < size) {
    const n = 6 + rng.int(10);
    const line: string[] = [];
    for (let i = 0; i < n; i++) line.push(WORDS[rng.int(WORDS.length)]!);
    if (rng.int(4) === 0) line.push(String(rng.next()));
    const s = line.join(" ") + "\n";
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join("")).subarray(0, size);
}

/** Incompressible bytes. */
export function randomChunk(size: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(size));
}

/** A stream of `total` bytes made by `chunk(size)`, at most 1 MiB at a time. */
export function generated(total: number, chunk: (size: number) => Buffer): Readable {
  let left = total;
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, 1 << 20);
      left -= n;
      this.push(chunk(n));
    },
  });
}

/** Writes `total` generated bytes to `path`, streaming. */
export async function writeGenerated(path: string, total: number, chunk: (size: number) => Buffer): Promise<void> {
  await pipeline(generated(total, chunk), createWriteStream(path));
}

export const MiB = 1024 * 1024;

export function fmt(n: number, digits = 2): number {
  return Number(n.toFixed(digits));
}
