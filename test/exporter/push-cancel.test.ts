import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build, type BuildEvent } from "../../src/builder/build.js";
import { isAbortError } from "../../src/errors.js";
import { openStore } from "../../src/store/image-store.js";
import { context, freshRoot } from "../builder/helpers.js";
import { startFaultProxy, type FaultProxy } from "../registry/fault-proxy.js";
import { startRegistry, type RegistryServer } from "../setup/registry.js";

let registry: RegistryServer;
let stalling: FaultProxy;
beforeAll(async () => {
  registry = await startRegistry();
  // A registry that accepts connections and never answers.
  stalling = await startFaultProxy(Number(registry.host.split(":")[1]), Array.from({ length: 50 }, () => "stall" as const));
});
afterAll(async () => {
  await stalling.stop();
  await registry.stop();
});

describe("a push output inside build()", () => {
  it("is a step of the build under its AbortSignal: aborting a push that hangs rejects at once with an AbortError, the step canceled, the image kept in the store", async () => {
    const root = freshRoot();
    const events: BuildEvent[] = [];
    const controller = new AbortController();
    let abortedAt = 0;
    const building = build({
      context: context({ Dockerfile: "FROM scratch\nCOPY busybox /b\n" }),
      root,
      tags: ["local/kept:1"],
      outputs: [{ type: "registry", name: `${stalling.host}/stuck/app:1` }],
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.kind === "step-start" && e.name.startsWith("pushing ")) {
          setTimeout(() => {
            abortedAt = Date.now();
            controller.abort();
          }, 500);
        }
      },
    });
    const error = await building.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAbortError(error)).toBe(true);
    expect(Date.now() - abortedAt).toBeLessThan(5000);
    const push = events.find((e): e is Extract<BuildEvent, { kind: "step-start" }> => e.kind === "step-start" && e.type === "export")!;
    expect(push.name).toBe(`pushing ${stalling.host}/stuck/app:1`);
    expect(events.filter((e) => "step" in e && e.step === push.step && e.kind !== "step-start" && e.kind !== "step-status").map((e) => e.kind)).toEqual(["step-canceled"]);
    // The image was stored before the outputs ran; only the push was stopped.
    expect((await (await openStore(root)).resolve("local/kept:1")).manifest.layers).toHaveLength(1);
  });
});
