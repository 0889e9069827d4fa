import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { lstat, mkdtemp, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { DiskFullError, diskIsFull } from "../../disk-full.js";
import { TbuildError } from "../../errors.js";
import { formatPlatform, hostPlatform } from "../../oci/platform.js";
import { heredocMarker, type Instruction } from "../../parser/index.js";
import { commandArgv, DEFAULT_PATH, DEFAULT_SHELL, envToMap, resolveWorkdir } from "../image-config.js";
import type { Layer, MergedView } from "../rootfs.js";
import type { StepFile } from "../../executor/executor.js";
import { mountKey, prepareMounts, removeCopiedUpDirs, removeStubs, withLocks } from "../run-mounts.js";
import { hostsFile, resolvConf, SANDBOX_HOSTNAME } from "../step-files.js";
import { resolveUser, supplementaryGroups } from "../users.js";
import { commitStep, located, type StepInputs, type StepState, relocated } from "./common.js";
import type { RunOptions, RunStepContext, SourceState } from "./context.js";

/** RUN: the command in the step's snapshot, with its mounts, as the image's USER. */
export async function runStep(instruction: Instruction & { keyword: "RUN" }, state: StepState, ctx: RunStepContext): Promise<StepInputs> {
  const flags = instruction.flags;
  const host = hostPlatform();
  if (state.platform.os !== host.os || state.platform.architecture !== host.architecture) {
    throw located(ctx, instruction, `RUN for ${formatPlatform(state.platform)} on this ${formatPlatform(host)} machine needs CPU emulation, which tbuild does not have`, "build RUN steps for this machine's platform, or build on a machine of the target platform");
  }
  if (flags["security"] === "insecure") {
    throw located(ctx, instruction, "RUN --security=insecure is not allowed: tbuild never grants extra privileges to a build step");
  }
  const shell = state.container.Shell ?? DEFAULT_SHELL;
  const heredocs = instruction.args.heredocs ?? [];
  let argv = commandArgv(instruction.args, shell);
  /** A `RUN <<EOF` body, run as a script file: its shebang chooses the interpreter, and its size is not argv's. */
  let script: string | undefined;
  if (heredocs.length > 0 && instruction.args.form === "shell") {
    const only = heredocs[0]!;
    // As BuildKit: when the line is just the marker (`<<EOF`, `<<-'EOF'`), the body is the script;
    // otherwise (`python3 <<EOF`) the heredocs go to the shell with the line.
    if (heredocMarker(instruction.args.command.trim())?.name === only.name && heredocs.length === 1) {
      script = only.content;
      argv = [...shell, SCRIPT_PATH];
    } else {
      argv = [...shell, [instruction.args.command, ...heredocs.map((h) => `${h.content}${h.name}`)].join("\n")];
    }
  }
  const envMap = envToMap(state.container.Env);
  for (const [k, v] of state.args) if (!envMap.has(k)) envMap.set(k, v);
  if (!envMap.has("PATH")) envMap.set("PATH", DEFAULT_PATH);
  const runEnv = [...envMap].map(([k, v]) => `${k}=${v}`);
  const workdir = resolveWorkdir(undefined, state.container.WorkingDir ?? "/");
  const network = (typeof flags["network"] === "string" ? flags["network"] : ctx.run.network) as "default" | "none" | "host";
  const mountSpecs = (flags["mount"] as string[] | undefined) ?? [];
  const sourceState = (from: string): Promise<SourceState> => ctx.sources.stage(from) ?? ctx.sources.image(from);
  let mountKeys: unknown[];
  try {
    mountKeys = await Promise.all(mountSpecs.map((m) => mountKey(m, async (from) => (await sourceState(from)).key, (id) => ctx.cacheMounts.name(id))));
  } catch (e) {
    if (e instanceof TbuildError) throw relocated(ctx, instruction, e);
    throw e;
  }
  return {
    // --add-host changes what the command sees, so it is part of the key (as in BuildKit's ExecOp); absent, keys stay as they were.
    key: { run: argv, script: script ?? null, env: runEnv, user: state.container.User ?? "", workdir, network, mounts: mountKeys, ...(ctx.run.addHosts.length > 0 ? { addHosts: ctx.run.addHosts } : {}) },
    execute: async (stageScratch: string): Promise<Layer | null> => {
      // Scratch of this step alone: secret copies and overlay points never meet another step's.
      const scratch = await mkdtemp(path.join(stageScratch, "run-"));
      const { snapshotter, rootfs, executor } = await ctx.snapshots();
      const parent = await rootfs.ensure(state.layers);
      const active = `run-${randomBytes(8).toString("hex")}`;
      const mounts = await snapshotter.prepare(active, parent);
      const views: string[] = [];
      try {
        const view = snapshotter.tree(mounts);
        const user = state.container.User;
        const who = user === undefined || user === "" ? await resolveUser("0", view, "USER", "root-group") : await resolveUser(user, view, `USER ${user}`, "root-group");
        // As a container runtime does: HOME from the user's passwd entry unless the image sets it.
        const stepEnv = runEnv.some((kv) => kv.startsWith("HOME=")) ? runEnv : [...runEnv, `HOME=${who.home ?? "/"}`];
        if (!(await view.isDirectory(workdir))) {
          throw located(ctx, instruction, `the working directory ${workdir} does not exist in the image`, "add a WORKDIR instruction, which creates it");
        }
        const upper = snapshotter.writableDir(mounts);
        const sourceTree = async (from: string) => {
          const source = await sourceState(from);
          const key = `view-${randomBytes(6).toString("hex")}`;
          const sourceView = snapshotter.tree(await snapshotter.view(key, await rootfs.ensure(source.layers)));
          views.push(key);
          return { view: sourceView, lowerdirs: sourceView.layerDirs, key: source.key };
        };
        const prepared = await prepareMounts(mountSpecs, { storeRoot: ctx.storeRoot, contextDir: ctx.context.dir, rules: ctx.context.rules, scratch, secrets: ctx.run.secrets, view, sourceTree, seedCacheMount: (id, dir) => ctx.cacheMounts.seed(id, dir) }).catch(
          (e: unknown) => {
            throw e instanceof TbuildError ? relocated(ctx, instruction, e) : e;
          },
        );
        const existing = { proc: await view.isDirectory("/proc"), dev: await view.isDirectory("/dev"), sys: await view.isDirectory("/sys") };
        const files = [...(await networkFiles(view, network, ctx.run.addHosts)), ...prepared.files];
        if (script !== undefined) files.push({ kind: "file", target: SCRIPT_PATH, mode: 0o755, uid: 0, gid: 0, data: Buffer.from(script, "utf8"), existing: 2 });
        const groups = await supplementaryGroups(who.uid, who.gid, view);
        // Native snapshots diff by metadata: the image's directories our stubs go into keep their mtimes.
        const stubParents = snapshotter.tracking === "compare" ? await mtimesOf(upper, [...prepared.mounts, ...files]) : new Map<string, bigint>();
        const code = await withLocks(prepared.locks, async () => {
          try {
            return await executor.run({
              rootfs: mounts,
              mounts: prepared.mounts,
              files,
              process: { argv, env: stepEnv, cwd: workdir, uid: who.uid, gid: who.gid, groups, network, hostname: SANDBOX_HOSTNAME },
              scratch,
              onOutput: state.output,
              ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
            });
          } catch (e) {
            throw e instanceof TbuildError ? relocated(ctx, instruction, e) : e;
          } finally {
            // Mount points the executor had to create are not part of what the command changed.
            const made = [...prepared.mounts, ...files];
            await removeStubs(upper, made);
            if (snapshotter.tracking === "upper") await removeCopiedUpDirs(upper, view.beneath(), made);
            for (const d of ["proc", "dev", "sys"] as const) {
              if (!existing[d]) await rmdir(path.join(upper, d)).catch(() => undefined);
            }
            for (const [dir, ns] of stubParents) await restoreMtime(dir, ns);
          }
        });
        if (code !== 0) {
          // The command met ENOSPC inside its tree: say so, with what it had written by then.
          if (await diskIsFull(ctx.storeRoot)) {
            const written = (await snapshotter.sizes([active]).catch(() => new Map<string, number>())).get(active) ?? 0;
            throw new DiskFullError(ctx.storeRoot, written, undefined, `${ctx.file}:${instruction.lines[0]}: RUN failed with exit code ${code}`);
          }
          throw located(ctx, instruction, `RUN failed with exit code ${code}: ${instruction.original.replace(/^RUN\s+/i, "")}`);
        }
        return await commitStep(snapshotter, active, state.layers, ctx.output);
      } catch (e) {
        await snapshotter.remove(active).catch(() => undefined);
        if (e instanceof DiskFullError) throw relocated(ctx, instruction, e);
        throw e;
      } finally {
        for (const key of views) await snapshotter.remove(key).catch(() => undefined);
        await rm(scratch, { recursive: true, force: true });
      }
    },
  };
}

/** Where a heredoc script appears in the step: on the step's own /dev tmpfs, never in a layer. */
const SCRIPT_PATH = "/dev/.tbuild-heredoc";

/**
 * /etc/resolv.conf, /etc/hosts and /etc/hostname for the step, as docker and BuildKit
 * give them (official base images ship none). They are mounted over whatever the
 * image has and never reach the layer. Where the image has one of them as a symlink
 * or not a plain file, the step keeps the image's (a mount there is refused).
 */
async function networkFiles(view: MergedView, network: "default" | "none" | "host", addHosts: RunOptions["addHosts"]): Promise<StepFile[]> {
  const wanted: [string, string][] = [
    ["/etc/resolv.conf", await resolvConf(network)],
    ["/etc/hosts", hostsFile(SANDBOX_HOSTNAME, addHosts)],
    ["/etc/hostname", `${SANDBOX_HOSTNAME}\n`],
  ];
  const files: StepFile[] = [];
  for (const [target, text] of wanted) {
    const { existing, problem } = await view.mountTarget(target, "file");
    if (problem === undefined) files.push({ kind: "file", target, mode: 0o644, uid: 0, gid: 0, data: Buffer.from(text, "utf8"), existing });
  }
  return files;
}


/** mtimes (ns) of the image's own directories that hold a mount point, read where no symlink is on the way. */
async function mtimesOf(root: string, targets: { target: string; existing: number }[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const t of targets) {
    const comps = t.target.split("/").filter((c) => c !== "");
    for (let depth = 1; depth <= Math.min(t.existing, comps.length - 1); depth++) {
      const dir = path.join(root, ...comps.slice(0, depth));
      const st = await lstat(dir, { bigint: true }).catch(() => undefined);
      if (st === undefined || !st.isDirectory()) break;
      out.set(dir, st.mtimeNs);
    }
  }
  return out;
}

/** Puts a directory's mtime back to the nanosecond (Node's utimes rounds to a double), never through a symlink. */
async function restoreMtime(dir: string, ns: bigint): Promise<void> {
  const st = await lstat(dir, { bigint: true }).catch(() => undefined);
  if (st === undefined || !st.isDirectory() || st.mtimeNs === ns) return;
  const stamp = `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
  await new Promise<void>((resolve) => execFile("touch", ["-h", "-m", "-d", stamp, "--", dir], () => resolve()));
}
