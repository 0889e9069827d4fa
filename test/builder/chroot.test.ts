/**
 * The chroot executor (--isolation=chroot) on this machine, as root: what it builds,
 * and that nothing a RUN starts outlives its step or a cancelled build. Inside a real
 * locked-down container it is exercised by test/ci-container/.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { build } from "../../src/builder/build.js";
import { processesMatching } from "../setup/processes.js";
import { BUSYBOX_BASE, context, freshRoot } from "./helpers.js";

const CLI = path.resolve(import.meta.dirname, "../../dist/cli/main.js");
const root = process.geteuid?.() === 0;

/** Processes whose command line matches `marker` (a sleep with an unusual duration). */
const running = processesMatching;

async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (what()) return true;
  return what();
}

describe.skipIf(!root)("RUN with --isolation=chroot", () => {
  it("gives the same image digest as the namespaced executor (users, COPY --from, a deletion, a cache mount)", async () => {
    const dockerfile = `${BUSYBOX_BASE.replace("FROM scratch", "FROM scratch AS base")}RUN mkdir -p /etc /home/app && echo 'app:x:1000:1000::/home/app:/bin/sh' > /etc/passwd && echo gone > /etc/motd
FROM scratch AS other
COPY busybox /tool
FROM base
COPY --from=other /tool /opt/tool
RUN --mount=type=cache,target=/cache rm /etc/motd && chown 1000:1000 /home/app && echo kept > /cache/kept
USER 1000
RUN echo hello > /home/app/hello
`;
    const ctx = context({ Dockerfile: dockerfile });
    const digests: string[] = [];
    for (const isolation of ["namespace", "chroot"] as const) {
      const r = await build({ context: ctx, root: freshRoot(), isolation, sourceDateEpoch: 1_700_000_000, snapshotter: "native" });
      digests.push(r.descriptor.digest);
    }
    expect(digests[1]).toBe(digests[0]);
  }, 240_000);

  it("kills what a RUN leaves running (even a daemon in a session of its own) when the step ends", async () => {
    const marker = "sleep 9871";
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN setsid sh -c '${marker} >/dev/null 2>&1 &' && (${marker.replace("9871", "9872")} &) && echo started > /started\n` });
    const started = Date.now();
    await build({ context: ctx, root: freshRoot(), isolation: "chroot" });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(running(marker)).toEqual([]);
    expect(running("sleep 9872")).toEqual([]);
  }, 120_000);

  it("stops the RUN's processes when the build is cancelled (AbortSignal) or tbuild gets SIGINT", async () => {
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN setsid sleep 9873 & sleep 9874\n` });
    const controller = new AbortController();
    const building = build({ context: ctx, root: freshRoot(), isolation: "chroot", signal: controller.signal });
    const outcome = building.then(() => "built", (e: Error) => e.message);
    // The machine may be busy: the step can take a while to start.
    expect(await until(() => running("sleep 9874").length > 0, 180_000)).toBe(true);
    controller.abort();
    expect(await outcome).toMatch(/cancel/i);
    expect(await until(() => running("sleep 987[34]").length === 0, 5000)).toBe(true);

    const cli = spawn(process.execPath, [CLI, "build", "--isolation", "chroot", "--root", freshRoot(), ctx], { stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => cli.on("exit", (code) => resolve(code)));
    expect(await until(() => running("sleep 9874").length > 0, 180_000)).toBe(true);
    cli.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(await until(() => running("sleep 987[34]").length === 0, 5000)).toBe(true);
  }, 480_000);

  it("refuses RUN --network=none with the Dockerfile line, as there is no network namespace to give", async () => {
    const ctx = context({ Dockerfile: `${BUSYBOX_BASE}RUN --network=none true\n` });
    await expect(build({ context: ctx, root: freshRoot(), isolation: "chroot" })).rejects.toThrow(/Dockerfile:4: RUN --network=none needs a network namespace of its own/);
  }, 120_000);
});
