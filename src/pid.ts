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
