import { TbuildError } from "../errors.js";
import type { Command } from "./command.js";

/** Runs node:util parseArgs, turning its TypeErrors into a usage error. */
export function parseOrUsage<T>(cmd: Pick<Command, "name" | "usage">, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    const synopsis = (cmd.usage.split("\n")[0] ?? "").replace(/^Usage:\s*/, "");
    throw new TbuildError("invalid-argument", `${cmd.name}: ${e instanceof Error ? e.message : String(e)}`, { hint: `usage: ${synopsis}` });
  }
}

export function requirePositionals(cmd: Pick<Command, "name" | "usage">, positionals: string[], count: number): void {
  if (positionals.length !== count) {
    throw new TbuildError("invalid-argument", `${cmd.name} takes ${count} argument${count === 1 ? "" : "s"}, got ${positionals.length}`, { hint: `usage: ${cmd.usage}` });
  }
}

/** Parses sizes like docker's --keep-storage: 512, 10k, 1.5GB, 2GiB (binary multiples). */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (m === null) throw new TbuildError("invalid-argument", `${flag}: '${s}' is not a size`, { hint: "write a number of bytes, optionally with k, m, g or t (e.g. 10GB)" });
  const power = ["", "k", "m", "g", "t"].indexOf((m[2] ?? "").toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/**
 * `--build-arg K=V` values; a bare `--build-arg K` takes K from the environment,
 * as docker build does.
 */
export function buildArgsOption(values: string[] | undefined): Record<string, string> {
  const args: Record<string, string> = {};
  for (const item of values ?? []) {
    const eq = item.indexOf("=");
    const key = eq === -1 ? item : item.slice(0, eq);
    if (key === "") throw new TbuildError("invalid-argument", `invalid --build-arg '${item}'`, { hint: "write --build-arg NAME=VALUE" });
    if (eq !== -1) args[key] = item.slice(eq + 1);
    else if (process.env[key] !== undefined) args[key] = process.env[key]!;
  }
  return args;
}
