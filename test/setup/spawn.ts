/**
 * spawnSync's result, without blocking. A test that waits on a long child synchronously
 * (a build, a registry, a rootless command) stalls its vitest worker's thread: under load
 * the worker then misses vitest's 60 s RPC deadline ("Timeout calling onTaskUpdate") and
 * the run fails although every test passed.
 */
import { spawn } from "node:child_process";

export interface SpawnResult {
  /** The exit code; null when a signal ended the child (or the timeout did). */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Ends the child with SIGTERM after this many ms, as spawnSync's `timeout` does. */
  timeout?: number;
}

export function spawnAsync(cmd: string, args: string[], o: SpawnOptions = {}): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], ...(o.cwd === undefined ? {} : { cwd: o.cwd }), ...(o.env === undefined ? {} : { env: o.env }) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = o.timeout === undefined ? undefined : setTimeout(() => child.kill("SIGTERM"), o.timeout);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    // A child that exits without reading its input must not fail the test with EPIPE.
    child.stdin.on("error", () => {});
    child.stdin.end(o.input ?? "");
  });
}
