import cliTruncate from "cli-truncate";
import { createLogUpdate } from "log-update";
import stringWidth from "string-width";
import type { BuildEvent } from "../../events.js";
import { formatSize } from "../format.js";
import type { Renderer } from "./renderer.js";
import { BuildView, errorSummary, type StepView } from "./view.js";

/** Output lines of a running step shown under it, as buildx folds them. */
const TAIL = 6;
/** How often the view is redrawn while nothing else happens (the timers move). */
const TICK_MS = 100;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

/**
 * The live view on a terminal (`--progress tty`, auto's choice there), drawn like
 * buildx's: a header with the elapsed time and steps done, a line per step with its
 * timer and CACHED/DONE/ERROR marks, the last output lines of running steps under
 * them, and byte counts with speed for pulls and pushes. log-update redraws the frame
 * in place; every line is cut to the terminal's width (cli-truncate counts wide
 * characters), read again at each redraw, so a narrow or resized terminal never
 * wraps and garbles the redraw. When the build ends the frame is drawn one last time
 * with every step, then the failed steps' output and Dockerfile lines.
 */
export function ttyRenderer(out: NodeJS.WriteStream): Renderer {
  const view = new BuildView(TAIL * 50);
  const log = createLogUpdate(out, { defaultWidth: 80 });
  let dirty = true;
  const timer = setInterval(() => redraw(), TICK_MS);
  timer.unref();

  const width = (): number => Math.max(20, out.columns || 80);
  const cut = (line: string): string => cliTruncate(line, width(), { position: "end" });

  const stepLines = (s: StepView, now: number, final: boolean): string[] => {
    const end = s.ended ?? now;
    const mark = s.state === "cached" ? "CACHED " : s.state === "error" ? "ERROR " : s.state === "canceled" ? "CANCELED " : "";
    const time = s.state === "cached" ? "0.0s" : `${s.state === "done" ? "DONE " : ""}${seconds(end - s.started)}`;
    const lines = [pad(` => ${mark}${s.name}`, time, width())];
    for (const st of s.statuses.values()) {
      if (final && st.done && st.total === undefined) {
        lines.push(cut(` => => ${st.name} done`));
        continue;
      }
      const bytes = st.current !== undefined && st.total !== undefined ? ` ${formatSize(st.current)} / ${formatSize(st.total)}` : "";
      const took = (st.done ? st.updated : now) - st.started;
      const speed = st.current !== undefined && took > 0 && !st.done ? ` ${formatSize((st.current * 1000) / took)}/s` : "";
      lines.push(pad(` => => ${st.name}${bytes}${speed}${st.done ? " done" : ""}`, seconds(took), width()));
    }
    // A running step shows its last lines; a failed one keeps all it printed.
    const shown = s.state === "running" ? [...s.lines.slice(-TAIL).map((l) => l.text), ...(s.partial === "" ? [] : [s.partial])].slice(-TAIL) : s.state === "error" ? s.lines.map((l) => l.text) : [];
    for (const text of shown) lines.push(cut(` => => # ${text}`));
    return lines;
  };

  const frame = (final: boolean, failed = false): string => {
    const now = Date.now();
    const steps = [...view.steps.values()];
    const finished = steps.filter((s) => s.state !== "running").length;
    const elapsed = seconds(now - (view.started ?? now));
    const header = cut(`[+] Building ${elapsed} (${finished}/${steps.length})${final && !failed ? " FINISHED" : ""}`);
    const body = steps.flatMap((s) => stepLines(s, now, final));
    const warnings = view.warnings.map((w) => cut(`WARNING: ${w}`));
    return [header, ...body, ...warnings].join("\n");
  };

  const redraw = (): void => {
    if (!dirty && view.steps.size === 0) return;
    dirty = false;
    log(frame(false));
  };

  return {
    onEvent(e: BuildEvent): void {
      view.apply(e);
      dirty = true;
      // Starts and ends show at once; logs and byte counts wait for the next tick.
      if (e.kind !== "step-log" && e.kind !== "step-status") redraw();
    },
    finish(error?: unknown): void {
      clearInterval(timer);
      log(frame(true, error !== undefined));
      log.done();
      const summary = errorSummary(view);
      if (summary !== "") out.write(summary);
    },
  };
}

/** `left` and `right` on one line of `width` columns, `left` cut to make room. */
function pad(left: string, right: string, width: number): string {
  const room = width - right.length - 1;
  if (room < 10) return cliTruncate(left, width, { position: "end" });
  const shown = cliTruncate(left, room, { position: "end" });
  return shown + " ".repeat(Math.max(1, width - right.length - stringWidth(shown))) + right;
}
