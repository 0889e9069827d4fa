import { describe, expect, it } from "vitest";
import { spawnGroup, waitExit } from "../../src/child-process.js";
import { processesMatching } from "../setup/processes.js";

const MARK = `tbuild-wait-exit-${process.pid}`;

/** Whether process `pid` still exists (a zombie counts: its parent has not seen it end). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the child has written its first line: its traps and children are in place. */
function ready(child: ReturnType<typeof spawnGroup>): Promise<void> {
  return new Promise((resolve) => child.stdout?.once("data", () => resolve()));
}

describe("waitExit when stopping a child", () => {
  it("rejects on abort only after the whole group, backgrounded children too, has gone", async () => {
    const child = spawnGroup("sh", ["-c", `(sleep 120; echo ${MARK}) & echo ${MARK}; sleep 120`], { stdio: ["ignore", "pipe", "pipe"] });
    const controller = new AbortController();
    const waited = waitExit(child, { doing: "the test's shell", signal: controller.signal });
    await ready(child);
    expect(processesMatching(MARK).length).toBeGreaterThan(0);
    controller.abort();
    await expect(waited).rejects.toThrow("the test's shell: cancelled");
    expect(processesMatching(MARK)).toEqual([]);
  });

  it("waits for a supervisor that takes its time to end what it adopted", async () => {
    // Like tbuild-run-chroot: SIGTERM makes it clean up, then exit.
    const child = spawnGroup("sh", ["-c", "trap 'sleep 1; exit 3' TERM; echo up; while :; do sleep 0.1; done"], { stdio: ["ignore", "pipe", "ignore"] }, "supervisor");
    const waited = waitExit(child, { doing: "the supervisor", timeoutMs: 300 });
    await ready(child);
    const t0 = Date.now();
    await expect(waited).rejects.toThrow("the supervisor: no answer after 0.3 s; stopped it");
    expect(exists(child.pid!)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
  });

  it("rejects at once when the command cannot be started", async () => {
    const child = spawnGroup(`/nonexistent/${MARK}`, [], { stdio: ["ignore", "pipe", "pipe"] });
    await expect(waitExit(child, { doing: "a missing tool" })).rejects.toMatchObject({ code: "ENOENT" });
  });
});
