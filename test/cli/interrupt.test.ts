import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const dist = path.resolve(import.meta.dirname, "../../dist");

/** Running (a zombie no one has reaped yet counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("Ctrl-C during a build", () => {
  it("the first SIGINT cancels and waits for the build to stop; a second exits at once (130), killing the process groups tbuild started", async () => {
    // tbuild's own signal handling (as main.ts installs it) around an operation whose
    // cancellation does not finish, with a RUN-like process group under it: the
    // situation where a user presses Ctrl-C twice.
    const script = path.join(mkdtempSync(path.join(tmpdir(), "tbuild-sigint-")), "slow-cancel.mjs");
    writeFileSync(
      script,
      `import { installSignalHandlers, cancelOnSignals } from ${JSON.stringify(path.join(dist, "cli/interrupt.js"))};
import { spawnGroup } from ${JSON.stringify(path.join(dist, "child-process.js"))};
installSignalHandlers();
const op = cancelOnSignals((text) => process.stderr.write(text));
op.signal.addEventListener("abort", () => process.stderr.write("abort seen, still stopping\\n"));
const step = spawnGroup("sleep", ["300"], { stdio: "ignore" });
process.stdout.write(step.pid + "\\n");
setInterval(() => undefined, 1000);
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })));
    const until = async (check: () => boolean, what: string): Promise<void> => {
      for (const started = Date.now(); !check(); ) {
        if (Date.now() - started > 30_000) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => stdout.includes("\n"), "the process group to start");
    const stepPid = Number(stdout.trim());
    expect(alive(stepPid)).toBe(true);

    child.kill("SIGINT");
    await until(() => stderr.includes("abort seen"), "the first SIGINT to cancel");
    expect(stderr).toContain("cancelling the build (press Ctrl-C again to stop at once)");
    // The first Ctrl-C lets the cancellation finish: nothing exits by itself yet.
    await new Promise((r) => setTimeout(r, 1000));
    expect(child.exitCode).toBeNull();
    expect(alive(stepPid)).toBe(true);

    const second = Date.now();
    child.kill("SIGINT");
    const end = await exited;
    expect(end.code).toBe(130);
    expect(end.at - second).toBeLessThan(2000);
    await until(() => !alive(stepPid), "the step's process group to be killed");
  });
});
