import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUSYBOX_BASE, context, freshRoot } from "../builder/helpers.js";
import { tbuild } from "./helpers.js";

const cli = path.resolve(import.meta.dirname, "../../dist/cli/main.js");

describe("tbuild build's progress and cancellation", () => {
  it("prints plain progress by default into a pipe, with the failing line's excerpt and the step's last output", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "ENV A=1\nRUN echo one; echo two >&2; exit 7\nCOPY busybox /x\n" });
    const r = await tbuild(["build", "--root", freshRoot(), "."], { cwd: ctx, env: { TBUILD_PROGRESS: "", BUILDKIT_PROGRESS: "" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^#1 \[1\/4\] COPY busybox \/bin\/busybox\n#1 DONE \d+\.\ds$/m);
    expect(r.stderr).toMatch(/^#3 \[3\/4\] RUN echo one; echo two >&2; exit 7\n#3 \d+\.\d{3} one\n#3 \d+\.\d{3} two\n#3 ERROR: .*exit code 7/m);
    expect(r.stderr).toMatch(/^------\n > \[3\/4\] RUN echo one; echo two >&2; exit 7:\n\d+\.\d{3} one\n\d+\.\d{3} two\n------\n/m);
    expect(r.stderr).toMatch(/^Dockerfile:5\n-{20}\n {3}2 \| {5}COPY busybox \/bin\/busybox\n {3}3 \| {5}RUN \["\/bin\/busybox".*\n {3}4 \| {5}ENV A=1\n {3}5 \| >>> RUN echo one; echo two >&2; exit 7\n {3}6 \| {5}COPY busybox \/x\n-{20}\n/m);
  });

  it("writes rawjson when BUILDKIT_PROGRESS asks for it: every line an event", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo hi\n" });
    const r = await tbuild(["build", "--root", freshRoot(), ctx], { env: { TBUILD_PROGRESS: "", BUILDKIT_PROGRESS: "rawjson" } });
    expect(r.code).toBe(0);
    const events = r.stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as { kind: string; text?: string });
    expect(events.filter((e) => e.kind === "step-start")).toHaveLength(3);
    expect(events.filter((e) => e.kind === "step-done")).toHaveLength(3);
    expect(events.some((e) => e.kind === "step-log" && e.text === "hi\n")).toBe(true);
  });

  it("refuses an unknown progress mode, naming the variable it came from", async () => {
    const r = await tbuild(["build", "--root", freshRoot(), "."], { env: { TBUILD_PROGRESS: "fancy" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("tbuild: TBUILD_PROGRESS fancy: choose auto, tty, plain, rawjson, quiet\n");
  });

  it("cancels on Ctrl-C: running steps are marked CANCELED and it exits 130", async () => {
    const ctx = context({ Dockerfile: BUSYBOX_BASE + "RUN echo started; sleep 120\n" });
    const child = spawn(process.execPath, [cli, "build", "--progress", "plain", "--root", freshRoot(), ctx], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const t0 = Date.now();
    child.stderr.on("data", (c: Buffer) => {
      const before = stderr;
      stderr += c.toString("utf8");
      if (!before.includes(" started\n") && stderr.includes(" started\n")) child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(130);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(stderr).toMatch(/^#3 CANCELED$/m);
    expect(stderr).toMatch(/tbuild: the build was cancelled\n$/);
  });
});
