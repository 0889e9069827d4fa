/** The exit status of a command stopped by Ctrl-C, as shells report SIGINT (128 + 2). */
export const INTERRUPTED = 130;

/**
 * Ctrl-C (SIGINT) or SIGTERM as docker build users know it: the first one aborts the
 * returned signal, so the build stops cleanly (steps killed, working files removed);
 * a second one exits at once. Call `dispose` when the work is over, which gives the
 * signals back their default meaning.
 */
export function cancelOnSignals(say: (text: string) => void): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (!controller.signal.aborted) {
      say("\ncancelling the build (press Ctrl-C again to stop at once)\n");
      controller.abort();
      return;
    }
    process.exit(INTERRUPTED);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
