import { spawn } from "node:child_process";
import path from "node:path";

const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");

/**
 * Runs the built CLI (`npm run build` first, as `npm test` does) as a user would.
 * Asynchronously: a synchronous spawn would stall the test worker's own messages.
 */
export function tbuild(args: string[], o: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...o.env }, stdio: ["pipe", "pipe", "pipe"], ...(o.cwd === undefined ? {} : { cwd: o.cwd }) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(o.input ?? "");
  });
}
