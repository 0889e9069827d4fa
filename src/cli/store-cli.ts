import { TbuildError } from "../errors.js";
import { openStore, type ImageStore } from "../store/image-store.js";
import type { Command } from "./command.js";

/** Flags every store command takes; spread into the parseArgs options. */
export const storeOptions = { root: { type: "string" }, help: { type: "boolean", short: "h" } } as const;

/** Runs node:util parseArgs, turning its TypeErrors into a usage error. */
export function parseOrUsage<T>(cmd: Pick<Command, "name" | "usage">, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new TbuildError("invalid-argument", `${cmd.name}: ${e instanceof Error ? e.message : String(e)}`, { hint: `usage: ${cmd.usage}` });
  }
}

/** Opens the store named by --root, else $TBUILD_ROOT or the XDG data dir. */
export function storeFromFlags(values: { root?: string | boolean | undefined }): Promise<ImageStore> {
  return openStore(typeof values.root === "string" ? values.root : undefined);
}

export function printUsage(cmd: Pick<Command, "summary" | "usage">, extra = ""): number {
  process.stdout.write(`Usage: ${cmd.usage}\n\n${cmd.summary}\n${extra}\n  --root DIR   image store (default $TBUILD_ROOT, else $XDG_DATA_HOME/tbuild)\n`);
  return 0;
}

export function requirePositionals(cmd: Pick<Command, "name" | "usage">, positionals: string[], count: number): void {
  if (positionals.length !== count) {
    throw new TbuildError("invalid-argument", `${cmd.name} takes ${count} argument${count === 1 ? "" : "s"}, got ${positionals.length}`, { hint: `usage: ${cmd.usage}` });
  }
}

/** Decimal units, as `docker images` prints sizes. */
export function formatSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${bytes}B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** Parses sizes like docker's --keep-storage: 512, 10k, 1.5GB, 2GiB (binary multiples). */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (m === null) throw new TbuildError("invalid-argument", `${flag}: '${s}' is not a size`, { hint: "write a number of bytes, optionally with k, m, g or t (e.g. 10GB)" });
  const power = ["", "k", "m", "g", "t"].indexOf((m[2] ?? "").toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/** "3 hours ago", as docker shows CREATED. */
export function relativeTime(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return "N/A";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "N/A";
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: [number, string][] = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  let v = s;
  for (const [size, unit] of steps) {
    if (v < size) return v <= 1 && unit === "second" ? "Less than a second ago" : `${Math.floor(v)} ${unit}${Math.floor(v) === 1 ? "" : "s"} ago`;
    v /= size;
  }
  return "N/A";
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd((widths[c] ?? 0) + 3))).join("").trimEnd()).join("\n") + "\n";
}
