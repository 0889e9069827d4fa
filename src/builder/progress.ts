import { StringDecoder } from "node:string_decoder";
import type { BuildEvent, SourceExcerpt, StepStartEvent } from "../events.js";

type StepInfo = Omit<StepStartEvent, "kind" | "time" | "step">;

/**
 * Numbers a build's steps and sends their events to the caller's `onEvent`. Each
 * step ends once: later end calls are ignored, so a failure path may end a step
 * that a success path already ended without sending two ends.
 */
export class Progress {
  private next = 1;
  private readonly running = new Set<StepProgress>();

  constructor(private readonly emit: (e: BuildEvent) => void) {}

  start(info: StepInfo): StepProgress {
    const step = new StepProgress(this.next++, this.emit, (s) => this.running.delete(s));
    this.running.add(step);
    this.emit({ kind: "step-start", time: step.startedAt, step: step.id, ...info });
    return step;
  }

  warn(message: string, step?: number): void {
    this.emit({ kind: "warning", time: Date.now(), message, ...(step === undefined ? {} : { step }) });
  }

  /** Ends every step still running as canceled (the build stopped under them). */
  cancelRunning(): void {
    for (const s of [...this.running]) s.canceled();
  }
}

export class StepProgress {
  readonly startedAt = Date.now();
  private ended = false;
  private readonly decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };

  constructor(
    readonly id: number,
    private readonly emit: (e: BuildEvent) => void,
    private readonly onEnd: (s: StepProgress) => void,
  ) {}

  /** Output bytes; a character split between chunks is sent whole with the next one. */
  log(stream: "stdout" | "stderr", chunk: Buffer): void {
    const text = this.decoders[stream].write(chunk);
    if (text !== "") this.emit({ kind: "step-log", time: Date.now(), step: this.id, stream, text });
  }

  status(id: string, name: string, o: { current?: number; total?: number; done?: boolean } = {}): void {
    this.emit({
      kind: "step-status",
      time: Date.now(),
      step: this.id,
      id,
      name,
      ...(o.current === undefined ? {} : { current: o.current }),
      ...(o.total === undefined ? {} : { total: o.total }),
      done: o.done ?? false,
    });
  }

  /** Why the step missed the cache (--explain-cache). */
  cacheMiss(reason: string): void {
    this.emit({ kind: "cache-miss", time: Date.now(), step: this.id, reason });
  }

  cached(): void {
    if (this.end()) this.emit({ kind: "step-cached", time: Date.now(), step: this.id });
  }

  done(layerBytes?: number): void {
    if (!this.end()) return;
    const time = Date.now();
    this.emit({ kind: "step-done", time, step: this.id, seconds: (time - this.startedAt) / 1000, ...(layerBytes === undefined ? {} : { layerBytes }) });
  }

  fail(message: string, source?: SourceExcerpt): void {
    if (this.end()) this.emit({ kind: "step-error", time: Date.now(), step: this.id, message, ...(source === undefined ? {} : { source }) });
  }

  canceled(): void {
    if (this.end()) this.emit({ kind: "step-canceled", time: Date.now(), step: this.id });
  }

  private end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.decoders[stream].end();
      if (rest !== "") this.emit({ kind: "step-log", time: Date.now(), step: this.id, stream, text: rest });
    }
    this.onEnd(this);
    return true;
  }
}

/**
 * The lines around `start..end` of a Dockerfile, as BuildKit shows a failing
 * instruction: four lines of context for a one-line instruction, two for a longer
 * one, taken alternately before and after while the file has them.
 */
export function sourceExcerpt(file: string, text: string, start: number, end: number): SourceExcerpt | undefined {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (start < 1 || start > lines.length) return undefined;
  const last = Math.min(end, lines.length);
  let from = start;
  let to = last;
  const pad = start === last ? 4 : 2;
  for (let added = 0; added < pad && (from > 1 || to < lines.length); ) {
    if (from > 1) {
      from--;
      added++;
    }
    if (to < lines.length && added < pad) {
      to++;
      added++;
    }
  }
  const shown = [];
  for (let n = from; n <= to; n++) shown.push({ number: n, text: lines[n - 1]!, failing: n >= start && n <= last });
  return { file, start, end: last, lines: shown };
}
