import { spawnSync } from "node:child_process";
import path from "node:path";

const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");

/** Runs the built CLI (`npm run build` first, as `npm test` does) as a user would. */
export function tbuild(args: string[], o: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, ...o.env }, ...(o.input === undefined ? {} : { input: o.input }), ...(o.cwd === undefined ? {} : { cwd: o.cwd }) });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
