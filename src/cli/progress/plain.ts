import type { BuildEvent } from "../../events.js";
import { formatSize } from "../format.js";
import type { Renderer } from "./renderer.js";
import { BuildView, errorSummary } from "./view.js";

/**
 * BuildKit's plain progress (`--progress plain`), which log scrapers and habits know:
 *
 *     #3 [build 2/4] RUN make
 *     #3 0.412 cc -o app main.c
 *     #3 DONE 1.2s
 *
 *     #4 [build 3/4] COPY . /src
 *     #4 CACHED
 *
 * Lines of steps running side by side interleave, each with its `#N`; a blank line
 * separates one step's lines from the next step's. Output lines carry the seconds
 * since their step started. When the build fails, the failed steps' last output
 * and Dockerfile lines follow (see errorSummary).
 */
export function plainRenderer(write: (text: string) => void): Renderer {
  const view = new BuildView(20);
  const partial = new Map<number, { text: string; time: number }>();
  let last: number | undefined;
  const line = (step: number, text: string): void => {
    if (last !== undefined && last !== step) write("\n");
    last = step;
    write(`#${step} ${text}\n`);
  };
  const seconds = (step: number, time: number): string => ((time - (view.steps.get(step)?.started ?? time)) / 1000).toFixed(3);
  const flush = (step: number): void => {
    const rest = partial.get(step);
    if (rest !== undefined && rest.text !== "") line(step, `${seconds(step, rest.time)} ${rest.text}`);
    partial.delete(step);
  };
  return {
    onEvent(e: BuildEvent): void {
      view.apply(e);
      switch (e.kind) {
        case "step-start":
          line(e.step, e.name);
          return;
        case "warning":
          if (last !== undefined) write("\n");
          last = undefined;
          write(`WARNING: ${e.message}\n`);
          return;
        case "step-log": {
          const parts = ((partial.get(e.step)?.text ?? "") + e.text).split(/\r?\n/);
          partial.set(e.step, { text: parts.pop() ?? "", time: e.time });
          for (const text of parts) line(e.step, `${seconds(e.step, e.time)} ${text}`);
          return;
        }
        case "step-status": {
          if (!e.done) return;
          const bytes = e.total !== undefined && e.current !== undefined ? ` ${formatSize(e.current)} / ${formatSize(e.total)}` : "";
          line(e.step, `${e.name}${bytes} done`);
          return;
        }
        case "cache-miss":
          line(e.step, `MISS ${e.reason}`);
          return;
        case "step-cached":
          flush(e.step);
          line(e.step, "CACHED");
          return;
        case "step-done":
          flush(e.step);
          line(e.step, `DONE ${e.seconds.toFixed(1)}s`);
          return;
        case "step-error":
          flush(e.step);
          line(e.step, `ERROR: ${e.message}`);
          return;
        case "step-canceled":
          flush(e.step);
          line(e.step, "CANCELED");
          return;
      }
    },
    finish(): void {
      const summary = errorSummary(view);
      if (summary === "") return;
      if (last !== undefined) write("\n");
      write(summary);
    },
  };
}
