import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { errnoCode } from "./errors.js";

/** Whether process `pid` on this host still runs (EPERM: it does, as another user). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat), or
 * undefined when it is gone. A pid can be reused; pid plus start time cannot.
 */
export function processStart(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return fields[19];
}

/** A process that owns something on disk (a lock, a lease, a working directory). */
export interface Owner {
  host: string;
  pid: number;
  /** processStart of pid; "" when it could not be read. */
  start: string;
}

let self: Owner | undefined;

export function selfOwner(): Owner {
  self ??= { host: hostname(), pid: process.pid, start: processStart(process.pid) ?? "" };
  return self;
}

/**
 * Whether `owner` still runs: true or false on this host; undefined for another host,
 * whose processes we cannot see (callers then fall back to age).
 */
export function ownerAlive(owner: Owner): boolean | undefined {
  if (owner.host !== hostname()) return undefined;
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  if (owner.pid === process.pid) return owner.start === "" || owner.start === selfOwner().start;
  if (!pidAlive(owner.pid)) return false;
  if (owner.start === "") return true;
  const start = processStart(owner.pid);
  // Unreadable /proc (hidepid): the pid lives, trust it.
  return start === undefined || start === owner.start;
}

/** `pid.start`, for names of files and directories a process owns (no host: they are local). */
export function ownerTag(owner: Owner = selfOwner()): string {
  return `${owner.pid}.${owner.start}`;
}

/** The owner in a name made with ownerTag (`<prefix><pid>.<start>-...`), on this host. */
export function ownerFromTag(tag: string): Owner | undefined {
  const m = /^(\d+)\.(\d*)(?:$|[-.])/.exec(tag);
  return m === null ? undefined : { host: hostname(), pid: Number(m[1]), start: m[2]! };
}
