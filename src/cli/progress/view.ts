import type { BuildEvent, SourceExcerpt } from "../../events.js";

export type StepState = "running" | "cached" | "done" | "error" | "canceled";

/** One output line of a step, with the seconds since the step started. */
export interface LogLine {
  seconds: number;
  text: string;
}

export interface StepStatus {
  id: string;
  name: string;
  current?: number;
  total?: number;
  done: boolean;
  started: number;
  updated: number;
}

export interface StepView {
  id: number;
  name: string;
  started: number;
  ended?: number;
  state: StepState;
  /** Output lines (at most `keepLines`, the last ones) and the unfinished last line. */
  lines: LogLine[];
  partial: string;
  statuses: Map<string, StepStatus>;
  error?: { message: string; source?: SourceExcerpt };
}

/**
 * The state of a build as its events tell it, for renderers that draw more than the
 * event at hand (the live view, the error summary). Only public events go in.
 */
export class BuildView {
  readonly steps = new Map<number, StepView>();
  readonly warnings: string[] = [];
  started: number | undefined;

  constructor(private readonly keepLines = 200) {}

  apply(e: BuildEvent): void {
    this.started ??= e.time;
    switch (e.kind) {
      case "step-start":
        this.steps.set(e.step, { id: e.step, name: e.name, started: e.time, state: "running", lines: [], partial: "", statuses: new Map() });
        return;
      case "warning":
        this.warnings.push(e.message);
        return;
    }
    const step = this.steps.get(e.step);
    if (step === undefined) return;
    switch (e.kind) {
      case "step-log": {
        const parts = (step.partial + e.text).split(/\r?\n/);
        step.partial = parts.pop() ?? "";
        for (const text of parts) this.push(step, { seconds: (e.time - step.started) / 1000, text });
        return;
      }
      case "cache-miss":
        this.push(step, { seconds: (e.time - step.started) / 1000, text: `cache miss: ${e.reason}` });
        return;
      case "step-status": {
        const prev = step.statuses.get(e.id);
        step.statuses.set(e.id, {
          id: e.id,
          name: e.name,
          ...(e.current === undefined ? {} : { current: e.current }),
          ...(e.total === undefined ? {} : { total: e.total }),
          done: e.done,
          started: prev?.started ?? e.time,
          updated: e.time,
        });
        return;
      }
      default:
        if (step.partial !== "") {
          this.push(step, { seconds: (e.time - step.started) / 1000, text: step.partial });
          step.partial = "";
        }
        step.ended = e.time;
        step.state = e.kind === "step-cached" ? "cached" : e.kind === "step-done" ? "done" : e.kind === "step-error" ? "error" : "canceled";
        if (e.kind === "step-error") step.error = { message: e.message, ...(e.source === undefined ? {} : { source: e.source }) };
    }
  }

  private push(step: StepView, line: LogLine): void {
    step.lines.push(line);
    if (step.lines.length > this.keepLines) step.lines.shift();
  }

  failed(): StepView[] {
    return [...this.steps.values()].filter((s) => s.state === "error");
  }
}

/** How many output lines of a failed step the summary repeats (BuildKit shows about as many). */
const TAIL_LINES = 10;

/**
 * What BuildKit prints for a failed step once the build has stopped: the step's
 * last output lines, then the Dockerfile lines around the instruction, the failing
 * ones marked `>>>`.
 */
export function errorSummary(view: BuildView): string {
  let out = "";
  for (const step of view.failed()) {
    out += `------\n > ${step.name}:\n`;
    for (const line of step.lines.slice(-TAIL_LINES)) out += `${line.seconds.toFixed(3)} ${line.text}\n`;
    out += "------\n";
    const source = step.error?.source;
    if (source !== undefined) out += formatExcerpt(source);
  }
  return out;
}

export function formatExcerpt(source: SourceExcerpt): string {
  const where = source.start === source.end ? `${source.start}` : `${source.start}-${source.end}`;
  const rows = source.lines.map((l) => ` ${String(l.number).padStart(3)} | ${l.failing ? ">>>" : "   "} ${l.text}`.trimEnd());
  return [`${source.file}:${where}`, "--------------------", ...rows, "--------------------", ""].join("\n");
}
