/**
 * Which executor runs RUN here (`--isolation`): namespaces where they can be made, and
 * for root in a container that forbids them (Docker's default seccomp profile and
 * capabilities: no unshare, no mount) the chroot executor, found by one quick probe.
 */
import { spawnGroup, waitExit } from "../child-process.js";
import { TbuildError } from "../errors.js";
import { nativeHelper } from "../native/binaries.js";
import { ChrootExecutor } from "./chroot.js";
import type { Executor } from "./executor.js";
import { NamespaceExecutor } from "./namespace.js";

export type Isolation = "auto" | "chroot" | "namespace";

export const ISOLATIONS: readonly Isolation[] = ["auto", "chroot", "namespace"];

let probed: Promise<string | undefined> | undefined;

/**
 * What refuses namespaces to root here ("unshare: EPERM", "mount: EPERM"), or
 * undefined when RUN's namespaces and mounts work. Asked once per process, of the
 * chroot helper (a fork, an unshare and a mount: a few milliseconds), with a timeout.
 */
function namespaceRefusal(): Promise<string | undefined> {
  probed ??= (async () => {
    let helper: string;
    try {
      helper = nativeHelper("tbuild-run-chroot");
    } catch {
      // No helpers for this machine: the executor chosen says so when RUN needs it.
      return undefined;
    }
    const child = spawnGroup(helper, ["--probe"], { stdio: ["ignore", "pipe", "ignore"], env: {} });
    let out = "";
    child.stdout?.on("data", (c: Buffer) => (out += c.toString("utf8")));
    // Generous: on a loaded CI runner a start-up can take seconds, and a false "no answer" fails the build.
    const exit = await waitExit(child, { doing: "probing namespaces", timeoutMs: 60_000 });
    if (exit.code === 0) return undefined;
    const [call, errno] = out.trim().split(/\s+/);
    return call === undefined || call === "" ? `the probe failed (exit ${exit.code})` : `${call}: ${errno ?? "refused"}`;
  })();
  return probed;
}

/** The executor for `isolation`; `warn` hears once what the choice means here. */
export async function openExecutor(isolation: Isolation, warn: (message: string) => void): Promise<Executor> {
  const root = process.geteuid?.() === 0;
  if (isolation === "namespace" || (isolation === "auto" && !root)) return new NamespaceExecutor();
  if (!root) {
    throw new TbuildError("failed-precondition", "--isolation=chroot needs root: tbuild then runs RUN steps with chroot(2), for a throwaway CI container that is itself the isolation boundary", {
      hint: "run the job as root in its container (securityContext.runAsUser: 0, or `user: root`), or use --isolation=namespace",
    });
  }
  const refusal = await namespaceRefusal();
  if (isolation === "auto" && refusal === undefined) return new NamespaceExecutor();
  if (isolation === "auto") {
    warn(`this container allows no namespaces (${refusal}): RUN steps run with chroot in native snapshots, and the container is the isolation boundary (--isolation=chroot)`);
  }
  return new ChrootExecutor({ procMissing: refusal === undefined ? undefined : `mounting /proc is not allowed in this container (${refusal})`, warn });
}
