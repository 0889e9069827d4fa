import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { sourceExcerpt } from "../../src/builder/progress.js";
import { progressMode } from "../../src/cli/progress/index.js";
import { plainRenderer } from "../../src/cli/progress/plain.js";
import { rawjsonRenderer } from "../../src/cli/progress/rawjson.js";
import type { BuildEvent } from "../../src/events.js";

const fixtures = path.join(import.meta.dirname, "fixtures");

/** Events recorded from real builds with --progress rawjson (see fixtures/README.md). */
function recorded(name: string): BuildEvent[] {
  return readFileSync(path.join(fixtures, name), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as BuildEvent);
}

function render(make: typeof plainRenderer, events: BuildEvent[], failed: boolean): string {
  let out = "";
  const r = make((t) => (out += t));
  for (const e of events) r.onEvent(e);
  r.finish(failed ? new Error("failed") : undefined);
  return out;
}

describe("plain progress", () => {
  it("prints a failed multi-stage build as BuildKit does: #N lines, DONE/CACHED, the error with output tail and Dockerfile excerpt", async () => {
    const out = render(plainRenderer, recorded("failed-build.jsonl"), true);
    await expect(out).toMatchFileSnapshot(path.join(fixtures, "failed-build.plain.txt"));
    expect(out).toMatch(/^#6 \[build 3\/3\] RUN echo "about to fail";/m);
    expect(out).toMatch(/^#3 \d+\.\d{3} left-done$/m);
    expect(out).toMatch(/^#1 CACHED$/m);
    expect(out).toMatch(/^#5 DONE \d+\.\ds$/m);
    expect(out).toMatch(/^Dockerfile:12-13\n-+\n {2}10 \| {5}RUN echo hello/m);
    expect(out).toMatch(/^ {2}12 \| >>> RUN echo "about to fail"; \\$/m);
  });

  it("keeps an unfinished last output line and prints it when the step ends", () => {
    const t = 1_000;
    const out = render(
      plainRenderer,
      [
        { kind: "step-start", time: t, step: 1, name: "[2/2] RUN printf a", type: "instruction" },
        { kind: "step-log", time: t + 100, step: 1, stream: "stdout", text: "one\ntw" },
        { kind: "step-start", time: t + 150, step: 2, name: "[other 1/1] COPY x /", type: "instruction" },
        { kind: "step-log", time: t + 200, step: 1, stream: "stderr", text: "o" },
        { kind: "step-done", time: t + 1250, step: 1, seconds: 1.24 },
        { kind: "step-cached", time: t + 1300, step: 2 },
      ],
      false,
    );
    expect(out).toBe("#1 [2/2] RUN printf a\n#1 0.100 one\n\n#2 [other 1/1] COPY x /\n\n#1 0.200 two\n#1 DONE 1.2s\n\n#2 CACHED\n");
  });
});

describe("rawjson progress", () => {
  it("writes each event as one JSON line, nothing else", async () => {
    const events = recorded("failed-build.jsonl");
    const out = render(rawjsonRenderer, events, true);
    await expect(out).toMatchFileSnapshot(path.join(fixtures, "failed-build.rawjson.txt"));
    const lines = out.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l) as BuildEvent)).toEqual(events);
  });
});

describe("choosing the progress mode", () => {
  it("takes --progress, then TBUILD_PROGRESS, then BUILDKIT_PROGRESS, else auto", () => {
    expect(progressMode("plain", { TBUILD_PROGRESS: "quiet" })).toBe("plain");
    expect(progressMode(undefined, { TBUILD_PROGRESS: "rawjson", BUILDKIT_PROGRESS: "plain" })).toBe("rawjson");
    expect(progressMode(undefined, { BUILDKIT_PROGRESS: "tty" })).toBe("tty");
    expect(progressMode(undefined, {})).toBe("auto");
  });

  it("names where a bad value came from", () => {
    expect(() => progressMode(undefined, { BUILDKIT_PROGRESS: "fancy" })).toThrow("BUILDKIT_PROGRESS fancy: choose auto, tty, plain, rawjson, quiet");
    expect(() => progressMode("json", {})).toThrow("--progress json: choose");
  });
});

describe("the Dockerfile excerpt of a failing instruction", () => {
  const text = Array.from({ length: 10 }, (_, i) => `LINE ${i + 1}`).join("\n") + "\n";

  it("shows four lines around a one-line instruction, two around a longer one", () => {
    expect(sourceExcerpt("Dockerfile", text, 5, 5)?.lines.map((l) => `${l.number}${l.failing ? "!" : ""}`)).toEqual(["3", "4", "5!", "6", "7"]);
    expect(sourceExcerpt("Dockerfile", text, 5, 6)?.lines.map((l) => `${l.number}${l.failing ? "!" : ""}`)).toEqual(["4", "5!", "6!", "7"]);
  });

  it("takes the context from where the file has it, at its start and end", () => {
    expect(sourceExcerpt("Dockerfile", text, 1, 1)?.lines.map((l) => l.number)).toEqual([1, 2, 3, 4, 5]);
    expect(sourceExcerpt("Dockerfile", text, 10, 10)?.lines.map((l) => l.number)).toEqual([6, 7, 8, 9, 10]);
    expect(sourceExcerpt("Dockerfile", text, 11, 11)).toBeUndefined();
  });
});
