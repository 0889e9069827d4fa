/**
 * What a build reports while it runs: one typed union, the only thing tbuild's own
 * progress renderers read, so a tool embedding tbuild can draw the same view.
 *
 * The model is BuildKit's: a build is a set of *steps* (BuildKit's vertices), each
 * numbered in the order it starts (`#N` in plain output). A step starts once, then
 * ends exactly once: cached, done, failed or canceled. While it runs it may log
 * output and report statuses (a layer being pulled or pushed, an export line).
 * Steps of different stages run at the same time, so their events interleave;
 * `step` says which step an event belongs to.
 *
 * Every event carries `time`, milliseconds since the epoch (Date.now()), so the
 * durations a renderer shows are differences of event times. The JSON form of each
 * event (`tbuild build --progress rawjson`) is documented in docs/progress-events.md.
 */

/** What a step is: a Dockerfile instruction, a base image pull, an output, the cache export. */
export type StepKind = "instruction" | "pull" | "export" | "cache";

export interface StepStartEvent {
  kind: "step-start";
  time: number;
  /** The step's number in this build, from 1: plain output's `#N`. */
  step: number;
  /** What the step is called on screen: `[stage 2/5] RUN make`, `exporting to image`. */
  name: string;
  type: StepKind;
  /** The stage's name (`build`, or `stage-1` for an unnamed one), for instruction steps. */
  stage?: string;
  /** The platform being built, when a build makes several. */
  platform?: string;
  /** This instruction's place among the stage's steps, 1-based, and their number. */
  index?: number;
  count?: number;
  /** The instruction as written (URL credentials removed), for instruction steps. */
  instruction?: string;
  /** First line of the instruction in the Dockerfile. */
  line?: number;
}

/** The step's result came from the build cache (or the base image was already stored). */
export interface StepCachedEvent {
  kind: "step-cached";
  time: number;
  step: number;
}

export interface StepDoneEvent {
  kind: "step-done";
  time: number;
  step: number;
  /** Seconds from start to end. */
  seconds: number;
  /** Compressed size of the layer the step made (0: it changed nothing), for instruction steps. */
  layerBytes?: number;
}

/** The Dockerfile lines around a failing instruction, as BuildKit prints them. */
export interface SourceExcerpt {
  file: string;
  /** First and last line of the failing instruction. */
  start: number;
  end: number;
  lines: { number: number; text: string; failing: boolean }[];
}

export interface StepErrorEvent {
  kind: "step-error";
  time: number;
  step: number;
  message: string;
  /** Where in the Dockerfile, for instruction steps. */
  source?: SourceExcerpt;
}

/** The step was stopped because the build was cancelled or another step failed. */
export interface StepCanceledEvent {
  kind: "step-canceled";
  time: number;
  step: number;
}

/** Output of a running step (a RUN command's stdout or stderr), decoded as UTF-8. */
export interface StepLogEvent {
  kind: "step-log";
  time: number;
  step: number;
  stream: "stdout" | "stderr";
  text: string;
}

/**
 * A part of a step's work: a blob being pulled or pushed (`current`/`total` bytes),
 * or a line of an export (`naming to docker.io/library/app:latest`). Sent when it
 * starts, as it moves, and once more with `done: true`.
 */
export interface StepStatusEvent {
  kind: "step-status";
  time: number;
  step: number;
  /** Stable within the step (a digest, or the line's text). */
  id: string;
  name: string;
  current?: number;
  total?: number;
  done: boolean;
}

/**
 * With `--explain-cache`: the step's key matched no record of any configured cache;
 * `reason` names the input that differs from the nearest record (a file, a build arg
 * by name, an environment variable, the instruction, the base image or the parent step).
 * Sent between the step's start and its end.
 */
export interface CacheMissEvent {
  kind: "cache-miss";
  time: number;
  step: number;
  reason: string;
}

export interface WarningEvent {
  kind: "warning";
  time: number;
  message: string;
  step?: number;
}

export type BuildEvent =
  | StepStartEvent
  | StepCachedEvent
  | StepDoneEvent
  | StepErrorEvent
  | StepCanceledEvent
  | StepLogEvent
  | StepStatusEvent
  | CacheMissEvent
  | WarningEvent;
