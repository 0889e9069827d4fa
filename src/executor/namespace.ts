import { randomBytes } from "node:crypto";
import { access, mkdir, rm } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { waitExit } from "../child-process.js";
import { isTbuildError, TbuildError } from "../errors.js";
import { nativeHelper } from "../native/binaries.js";
import { missingTool } from "../os-tools.js";
import { namespaceFailure, nsSpawn } from "../userns/namespace.js";
import type { Mount } from "../snapshotter/snapshotter.js";
import type { ExecRequest, Executor, PreparedMount } from "./executor.js";

/**
 * Runs each RUN command in a new user namespace mapping the caller's subordinate ids
 * (nothing when already root), private mount and pid namespaces, and inside them
 * tbuild-run-init (src/native/run-init.c), which builds the sandbox (UTS, IPC and,
 * for --network=none, network namespaces; the root nodev; /proc, /sys, /dev, devpts,
 * shm; masked and read-only /proc paths; the step's files and mounts, created by fd
 * inside the root), makes the snapshot the root with pivot_root, and starts the
 * command as the image's USER with docker build's capabilities and seccomp profile
 * and only the image's environment.
 */
export class NamespaceExecutor implements Executor {
  readonly isolation = "namespace";

  run(req: ExecRequest): Promise<number> {
    return runInNamespaces(req);
  }
}

/** One record of the helper's step description: "TAG LEN\n", the bytes, "\n". */
function record(tag: string, value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([Buffer.from(`${tag} ${bytes.length}\n`), bytes, Buffer.from("\n")]);
}

/** The step description run-init reads from fd 3 (see read_spec there). */
function describeStep(req: ExecRequest, rootfs: Mount, merged: string, staging: string, started: string): Buffer {
  const p = req.process;
  const parts = [
    record("merged", merged),
    record("staging", staging),
    record("started", started),
    record("rootfs", rootfs.type === "overlay" ? `overlay\t${rootfs.options.join(",")}` : `bind\t${rootfs.source}`),
    record("workdir", p.cwd),
    record("net", p.network === "none" ? "none" : "host"),
    record("hostname", p.hostname),
    record("user", `${p.uid}\t${p.gid}\t${p.groups.join(",")}`),
  ];
  for (const line of mountLines(req.mounts)) parts.push(record("mount", line));
  for (const f of req.files) {
    if (/[\t\n]/.test(f.target)) throw new TbuildError("invalid-argument", `RUN: tabs and newlines are not allowed in mount paths: ${JSON.stringify(f.target)}`);
    parts.push(record("file", `${f.target}\t${f.mode.toString(8)}\t${f.uid}\t${f.gid}`), record("data", f.data));
  }
  for (const e of p.env) parts.push(record("env", e));
  for (const a of p.argv) parts.push(record("arg", a));
  parts.push(record("end", ""));
  return Buffer.concat(parts);
}

/**
 * The step description, secrets included, goes to the helper through a pipe, never
 * a file. The helper's stdin is a pipe tbuild holds open and never writes: when
 * tbuild ends, however it ends (SIGKILL too), the helper reads end-of-file and kills
 * the step's every process.
 */
async function runInNamespaces(req: ExecRequest): Promise<number> {
  const rootfs = req.rootfs[0];
  if (rootfs === undefined) throw new TbuildError("internal", "RUN: the snapshot has no mounts");
  const init = nativeHelper("tbuild-run-init");
  const merged = path.join(req.scratch, `run-${randomBytes(6).toString("hex")}`);
  const staging = `${merged}.files`;
  const started = `${merged}.started`;
  const description = describeStep(req, rootfs, merged, staging, started);
  await mkdir(merged, { recursive: true });
  await mkdir(staging, { mode: 0o700 });
  try {
    const child = nsSpawn(init, [], {
      mount: true,
      pid: true,
      stdio: ["pipe", "pipe", "pipe", "pipe"],
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    let stderrTail = "";
    child.stdout?.on("data", (c: Buffer) => req.onOutput("stdout", c));
    child.stderr?.on("data", (c: Buffer) => {
      stderrTail = (stderrTail + c.toString("utf8")).slice(-2000);
      req.onOutput("stderr", c);
    });
    // The lifeline is only held; the helper may be gone before the description is written.
    child.stdin?.on("error", () => undefined);
    const input = child.stdio[3] as Writable | null;
    input?.on("error", () => undefined);
    input?.end(description);
    // The helper leads a process group of its own (and a session: the step gets no
    // controlling terminal); its exit ends the step, and the group dies with it.
    const { code, signal } = await waitExit(child, { doing: "RUN", drainMs: 2000, ...(req.signal === undefined ? {} : { signal: req.signal }) }).catch((e: unknown) => {
      throw isTbuildError(e) ? e : missingTool((e as NodeJS.ErrnoException).path ?? "unshare", "RUN: starting the namespace helper", e as Error);
    });
    child.stdin?.destroy();
    if (code === 0) return 0;
    // The helper never got to its first step: the namespaces themselves could not be made.
    if (await access(started).then(() => true, () => false)) return code ?? 128 + (signal === null ? 0 : osConstants.signals[signal]);
    throw namespaceFailure(stderrTail, "RUN") ?? new TbuildError("unavailable", `RUN: the namespace helper failed: ${stderrTail.trim()}`);
  } finally {
    await rm(merged, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
    await rm(started, { force: true });
  }
}

/** The mounts as the helper reads them: one tab-separated line each. */
function mountLines(mounts: PreparedMount[]): string[] {
  for (const m of mounts) {
    if (/[\t\n]/.test(m.target + m.source + m.subpath + m.options.join(","))) {
      throw new TbuildError("invalid-argument", `RUN --mount target ${JSON.stringify(m.target)}: tabs and newlines are not allowed in mount paths`);
    }
  }
  return mounts.map((m) => [m.kind, m.target, m.source, m.options.join(","), m.subpath].join("\t"));
}
