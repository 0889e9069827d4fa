/**
 * How tbuild waits for the processes it starts, so that it never hangs on one.
 *
 * A child's pipes close only when every process holding them has gone, and that can be
 * never: util-linux's `unshare --map-auto` leaves a helper blocked on an eventfd when
 * the user namespace is refused, and a RUN command may leave a daemon behind. So tbuild
 * starts children in a process group of their own, waits for the child's `exit` (not
 * for its pipes' `close`), then kills the group and lets the pipes drain. Groups still
 * alive when tbuild exits are killed too.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { TbuildError } from "./errors.js";

/** Live process groups, by leader pid: "supervisor" leaders end their group themselves on SIGTERM. */
const live = new Map<number, "group" | "supervisor">();
let exitHookInstalled = false;

/** Sends SIGKILL to process group `pgid` (and the process itself, should it have left the group). */
export function killGroup(pgid: number): void {
  for (const target of [-pgid, pgid]) {
    try {
      process.kill(target, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * Stops a live group: SIGKILL to all of it, or for a supervisor (tbuild-run-chroot)
 * SIGTERM to the leader alone, which then kills every process it adopted, including
 * those that left the group, before it exits.
 */
function stopGroup(pgid: number): void {
  if (live.get(pgid) !== "supervisor") return killGroup(pgid);
  try {
    process.kill(pgid, "SIGTERM");
  } catch {
    // Already gone.
  }
}

/** Stops every process group tbuild started and has not seen end (for exit and fatal signals). */
export function killAllGroups(): void {
  for (const pgid of live.keys()) stopGroup(pgid);
  live.clear();
}

/**
 * spawn(), leading a process group of its own (and a session: no controlling terminal),
 * tracked until it exits. `supervisor`: the child ends its own descendants on SIGTERM.
 */
export function spawnGroup(cmd: string, args: readonly string[], o: SpawnOptions = {}, kind: "group" | "supervisor" = "group"): ChildProcess {
  const child = spawn(cmd, args, { ...o, detached: true });
  if (child.pid !== undefined) {
    const pgid = child.pid;
    live.set(pgid, kind);
    child.once("exit", () => live.delete(pgid));
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", killAllGroups);
    }
  }
  return child;
}

export interface WaitOptions {
  /** What the child does, for messages ("probing user namespaces"). */
  doing: string;
  /** Kill the group and fail after this long (helpers that must be quick). */
  timeoutMs?: number;
  /** Kill the group and fail when aborted. */
  signal?: AbortSignal;
  /**
   * After the exit and the group kill, how long the pipes may take to deliver what is
   * left before they are cut (something outside the group still holds them). Only for
   * pipes read eagerly: a consumer applying backpressure must not be cut off.
   */
  drainMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * After a stop (timeout or abort), how long the child may take to exit and its pipes to
 * close before the wait gives up on them: SIGKILL is final, but a process in
 * uninterruptible sleep (a hung NFS or FUSE mount) takes as long as its I/O.
 */
const STOP_WAIT_MS = 10_000;

/**
 * Resolves when `child` has exited, its process group has been killed and its stdout
 * and stderr have ended. Rejects when it cannot be started, on timeout or abort, once
 * the stopped child has exited and its pipes have closed: signals are delivered
 * asynchronously, and a caller that sees the rejection (a cancelled build) must not
 * find the processes it started still running. A pipe closes only when every process
 * holding it has gone, backgrounded ones too.
 */
export function waitExit(child: ChildProcess, o: WaitOptions): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const pgid = child.pid;
    const pipes = [child.stdout, child.stderr].filter((s) => s !== null);
    let timer: NodeJS.Timeout | undefined;
    let stopped: Error | undefined;
    const settle = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
    };
    const fail = (e: Error): void => {
      settle();
      if (pgid === undefined) {
        // Never started: nothing to wait for.
        for (const s of pipes) s.destroy();
        return reject(e);
      }
      if (stopped !== undefined) return;
      stopped = e;
      stopGroup(pgid);
      // What it still writes is not wanted, but its pipes must be read to see them close.
      for (const s of pipes) s.resume();
      timer = setTimeout(() => {
        for (const s of pipes) s.destroy();
        reject(e);
      }, STOP_WAIT_MS);
    };
    const onAbort = (): void => fail(new TbuildError("unavailable", `${o.doing}: cancelled`));
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    if (o.timeoutMs !== undefined) {
      timer = setTimeout(() => fail(new TbuildError("unavailable", `${o.doing}: no answer after ${o.timeoutMs! / 1000} s; stopped it`)), o.timeoutMs);
    }
    child.once("error", (e) => fail(e));
    child.once("exit", (code, signal) => {
      if (stopped === undefined) settle();
      if (pgid !== undefined) killGroup(pgid);
      const open = pipes.filter((s) => !s.readableEnded && !s.destroyed);
      const drainMs = o.drainMs ?? (stopped === undefined ? undefined : STOP_WAIT_MS);
      let cut: NodeJS.Timeout | undefined;
      if (drainMs !== undefined && open.length > 0) cut = setTimeout(() => open.forEach((s) => s.destroy()), drainMs);
      void Promise.all(open.map((s) => new Promise((r) => s.once("close", r)))).then(() => {
        if (cut !== undefined) clearTimeout(cut);
        if (timer !== undefined) clearTimeout(timer);
        if (stopped === undefined) resolve({ code, signal });
        else reject(stopped);
      });
    });
  });
}
