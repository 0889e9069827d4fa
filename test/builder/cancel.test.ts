import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { build } from "../../src/builder/build.js";
import type { BuildEvent } from "../../src/events.js";
import { openSnapshotter } from "../../src/snapshotter/snapshotter.js";
import { BUSYBOX_BASE, context, freshRoot } from "./helpers.js";

const TOKEN = `tbuild-cancel-${process.pid}`;
const DOCKERFILE = BUSYBOX_BASE + `COPY a.txt /a.txt\nRUN echo started-${TOKEN}; sleep 2; echo ran > /ran\nCOPY b.txt /b.txt\n`;

/** Processes whose command line names this test's token (RUN steps that outlived their build). */
function leftoverSteps(): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ");
        return cmd.includes(`started-${TOKEN}`) ? [cmd] : [];
      } catch {
        return [];
      }
    });
}

/** Builds, aborting when `when` first holds for an event; returns the rejection. */
async function abortedBuild(ctx: string, root: string, when: (e: BuildEvent) => boolean): Promise<unknown> {
  const controller = new AbortController();
  const events: BuildEvent[] = [];
  const outcome = await build({
    context: ctx,
    root,
    sourceDateEpoch: 1_700_000_000,
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (!controller.signal.aborted && when(e)) controller.abort();
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  // Every step that started has ended: nothing is left drawn as running.
  const started = events.filter((e) => e.kind === "step-start").map((e) => e.step);
  const ended = new Set(events.flatMap((e) => (["step-cached", "step-done", "step-error", "step-canceled"].includes(e.kind) && "step" in e ? [e.step] : [])));
  expect(started.filter((s) => !ended.has(s))).toEqual([]);
  return outcome;
}

async function expectCleanStore(root: string): Promise<void> {
  expect(readdirSync(path.join(root, "tmp"))).toEqual([]);
  const snapshotter = await openSnapshotter({ root: path.join(root, "snapshotter"), driver: "auto" });
  expect((await snapshotter.walk()).filter((s) => s.kind !== "committed").map((s) => s.key)).toEqual([]);
  expect(leftoverSteps()).toEqual([]);
}

describe("cancelling a build", () => {
  it("stops at any point with an AbortError, leaves no process, working snapshot or temp file, and the next build gives the same image", async () => {
    const ctx = context({ Dockerfile: DOCKERFILE, "a.txt": "a", "b.txt": "b" });
    const reference = await build({ context: ctx, root: freshRoot(), sourceDateEpoch: 1_700_000_000 });

    const root = freshRoot();
    const already = new AbortController();
    already.abort();
    await expect(build({ context: ctx, root, signal: already.signal })).rejects.toMatchObject({ name: "AbortError" });

    const points: [string, (e: BuildEvent) => boolean][] = [
      ["as the first COPY starts", (e) => e.kind === "step-start" && e.instruction === "COPY a.txt /a.txt"],
      ["while RUN runs", (e) => e.kind === "step-log" && e.text.includes(`started-${TOKEN}`)],
      ["as the last COPY starts", (e) => e.kind === "step-start" && e.instruction === "COPY b.txt /b.txt"],
    ];
    for (const [, when] of points) {
      const err = await abortedBuild(ctx, root, when);
      expect(err).toMatchObject({ name: "AbortError" });
      await expectCleanStore(root);
    }

    const again = await build({ context: ctx, root, sourceDateEpoch: 1_700_000_000 });
    expect(again.descriptor.digest).toBe(reference.descriptor.digest);
    await expectCleanStore(root);
  });

  it("kills the whole process tree of a running step, backgrounded children too", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + `RUN (sleep 120; echo started-${TOKEN}) & echo started-${TOKEN}; sleep 120\n` });
    const root = freshRoot();
    const t0 = Date.now();
    const err = await abortedBuild(ctx, root, (e) => e.kind === "step-log" && e.text.includes(`started-${TOKEN}`));
    expect(err).toMatchObject({ name: "AbortError" });
    expect(Date.now() - t0).toBeLessThan(60_000);
    await expectCleanStore(root);
  });
});
