/**
 * Which processes are running, read from /proc as `pgrep -f` would report them. The tests
 * use this rather than pgrep, which a fresh Debian root does not have (procps is not in
 * minbase), so the check itself cannot fail for want of a tool.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Pids of live processes whose full command line matches `pattern` (a regular expression). */
export function processesMatching(pattern: string): number[] {
  const wanted = new RegExp(pattern);
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim();
    } catch {
      continue; // it exited while we looked
    }
    if (commandLine !== "" && wanted.test(commandLine)) pids.push(Number(entry));
  }
  return pids;
}
