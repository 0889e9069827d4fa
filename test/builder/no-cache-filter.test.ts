import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, buildCollecting, context, freshRoot, instructionSteps } from "./helpers.js";

describe("--no-cache-filter", () => {
  it("reruns the steps of the named stages only; other stages' steps come from the cache", async () => {
    const dockerfile = `${BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base")}
FROM base AS deps
RUN cat /proc/sys/kernel/random/uuid > /deps-id

FROM base AS app
COPY --from=deps /deps-id /deps-id
RUN cat /proc/sys/kernel/random/uuid > /app-id
`;
    const ctx = context({ Dockerfile: dockerfile });
    const root = freshRoot();
    const first = await buildCollecting({ context: ctx, root });
    expect(instructionSteps(first.events).every((s) => !s.cached)).toBe(true);
    const again = await buildCollecting({ context: ctx, root, noCacheFilter: ["app"] });
    const steps = instructionSteps(again.events);
    expect(steps.filter((s) => s.stage !== "app").every((s) => s.cached)).toBe(true);
    expect(steps.filter((s) => s.stage === "app").map((s) => [s.instruction, s.cached])).toEqual([
      ["COPY --from=deps /deps-id /deps-id", false],
      ["RUN cat /proc/sys/kernel/random/uuid > /app-id", false],
    ]);
    // The rerun RUN made a new layer (a new uuid): the image changed, as it does with --no-cache.
    expect(again.result.descriptor.digest).not.toBe(first.result.descriptor.digest);
    // An unknown stage name is a warning, not a silent no-op.
    const unknown = await buildCollecting({ context: ctx, root, noCacheFilter: ["nope"] });
    expect(unknown.events.filter((e) => e.kind === "warning").map((e) => (e as { message: string }).message)).toContain("--no-cache-filter: no stage is named nope");
    expect(instructionSteps(unknown.events).every((s) => s.cached)).toBe(true);
  });
});
