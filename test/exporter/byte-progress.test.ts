import { describe, expect, it } from "vitest";
import { build, type BuildEvent } from "../../src/builder/build.js";
import { context, freshRoot } from "../builder/helpers.js";
import { registryForFile } from "../setup/registry-per-file.js";

const registry = registryForFile();

type Status = Extract<BuildEvent, { kind: "step-status" }>;

/** The statuses of the one step whose name starts with `prefix`. */
function statusesOf(events: BuildEvent[], prefix: string): Status[] {
  const step = events.find((e) => e.kind === "step-start" && e.name.startsWith(prefix));
  expect(step).toBeDefined();
  return events.filter((e): e is Status => e.kind === "step-status" && e.step === (step as { step: number }).step);
}

describe("bytes of blobs while they move", () => {
  it("a push reports a layer's bytes before it is done, and a pull reports a layer as it starts, both with its size", async () => {
    const ref = `${registry.host}/bytes/app:1`;
    const pushEvents: BuildEvent[] = [];
    const pushed = await build({ context: context({ Dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" }), root: freshRoot(), tags: [ref], outputs: [{ type: "registry" }], onEvent: (e) => pushEvents.push(e) });
    expect(pushed.pushed.map((p) => p.reference)).toEqual([ref]);
    const push = statusesOf(pushEvents, "pushing ");
    // The layer (busybox, about a megabyte compressed): under way, then done with its whole size.
    const layerDone = push.find((s) => s.done && s.total !== undefined && s.total > 256 * 1024)!;
    const moving = push.filter((s) => s.id === layerDone.id && !s.done);
    expect(moving.length).toBeGreaterThan(0);
    expect(moving[0]!.current! > 0 && moving[0]!.current! < layerDone.total!).toBe(true);
    expect(moving.every((s) => s.total === layerDone.total)).toBe(true);
    expect(push.indexOf(moving[moving.length - 1]!)).toBeLessThan(push.indexOf(layerDone));

    const pullEvents: BuildEvent[] = [];
    await build({ context: context({ Dockerfile: `FROM ${ref}\nCOPY busybox /again\n` }), root: freshRoot(), onEvent: (e) => pullEvents.push(e) });
    const pull = statusesOf(pullEvents, "pulling ");
    const pulledLayer = pull.find((s) => s.id === layerDone.id && s.done)!;
    expect(pulledLayer.current).toBe(layerDone.total);
    const started = pull.filter((s) => s.id === layerDone.id && !s.done);
    expect(started[0]).toMatchObject({ current: 0, total: layerDone.total });
  });
});
