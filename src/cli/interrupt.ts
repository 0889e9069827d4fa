import { killAllGroups } from "../child-process.js";

/** The exit status of a cancelled build, as shells report Ctrl-C (128 + SIGINT). */
export const INTERRUPTED = 130;

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** The operation a signal cancels cleanly, when one is running (a build). */
let current: { controller: AbortController; say: (text: string) => void } | undefined;

/**
 * Installs tbuild's handlers for SIGINT, SIGTERM and SIGHUP. While a cancellable
 * operation runs (see cancelOnSignals), the first SIGINT or SIGTERM cancels it and
 * it ends by itself; otherwise, or on a second signal, tbuild kills the process
 * groups it started (helpers and RUN commands lead their own, so no terminal's
 * Ctrl-C reaches them) and exits at once.
 */
export function installSignalHandlers(): void {
  for (const signal of Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]) {
    process.on(signal, () => {
      if (current !== undefined && !current.controller.signal.aborted && signal !== "SIGHUP") {
        current.say("\ncancelling the build (press Ctrl-C again to stop at once)\n");
        current.controller.abort();
        return;
      }
      killAllGroups();
      process.exit(EXIT_CODES[signal]);
    });
  }
}

/**
 * Ctrl-C as docker build users know it: until `dispose`, the first SIGINT or SIGTERM
 * aborts the returned signal, so the build stops cleanly (steps killed, working
 * files removed), and a second one exits at once.
 */
export function cancelOnSignals(say: (text: string) => void): { signal: AbortSignal; dispose: () => void } {
  const entry = { controller: new AbortController(), say };
  current = entry;
  return {
    signal: entry.controller.signal,
    dispose: () => {
      if (current === entry) current = undefined;
    },
  };
}
