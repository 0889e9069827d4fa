import { randomBytes } from "node:crypto";
import { access, mkdir, rm } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { isTbuildError, TbuildError } from "../errors.js";
import { waitExit } from "../child-process.js";
import { nativeHelper } from "../native/binaries.js";
import { missingTool } from "../os-tools.js";
import { namespaceFailure, nsSpawn } from "../snapshotter/namespace.js";
import type { ExecRequest, Executor, PreparedMount } from "./executor.js";

/**
 * Runs inside the RUN namespaces (user, mount, pid) as namespace root, with the
 * host's tools: mounts the snapshot at $TBUILD_MERGED, gives it /proc and a minimal
 * /dev, mounts the step's --mount mounts, then execs "$@": tbuild-run-init, which
 * pivots into the root and starts the command. Mount points are created only where
 * no component is a symlink (the image could otherwise send them onto the host);
 * nothing else can change the tree meanwhile, as the command has not started.
 */
const RUN_SCRIPT = `
set -eu
: > "$TBUILD_STARTED"
m="$TBUILD_MERGED"
plain_path() {
  p="$m"
  rest="\${1#/}"
  while [ -n "$rest" ]; do
    case "$rest" in */*) c="\${rest%%/*}"; rest="\${rest#*/}";; *) c="$rest"; rest="";; esac
    p="$p/$c"
    if [ -L "$p" ]; then echo "tbuild: refusing to mount on $1: /\${p#$m/} is a symlink" >&2; exit 125; fi
  done
}
if [ "$TBUILD_MOUNT_TYPE" = overlay ]; then
  mount -t overlay overlay -o "$TBUILD_MOUNT_OPTIONS" "$m"
else
  mount --rbind "$TBUILD_MOUNT_SOURCE" "$m"
fi
for d in proc dev; do
  plain_path "/$d"
  [ -d "$m/$d" ] || mkdir "$m/$d"
done
mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
mount -t tmpfs -o nosuid,nodev,mode=755,size=65536k tmpfs "$m/dev"
for n in null zero full random urandom; do
  : > "$m/dev/$n"
  mount --bind "/dev/$n" "$m/dev/$n"
done
mkdir "$m/dev/shm" "$m/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$m/dev/shm"
ln -s /proc/self/fd "$m/dev/fd"
ln -s /proc/self/fd/0 "$m/dev/stdin"
ln -s /proc/self/fd/1 "$m/dev/stdout"
ln -s /proc/self/fd/2 "$m/dev/stderr"
tab=$(printf '\t')
while IFS="$tab" read -r kind target source opts subpath; do
  [ -n "$kind" ] || continue
  plain_path "$target"
  t="$m$target"
  case ",$opts," in *,chown=*) own=\${opts#*chown=}; chown "\${own%%,*}" "$source";; esac
  case "$kind" in
    file) mkdir -p "\${t%/*}"; plain_path "$target"; [ -e "$t" ] || : > "$t"; mount --bind "$source" "$t";;
    dir) mkdir -p "$t"; mount --bind "$source" "$t";;
    tmpfs) mkdir -p "$t"; mount -t tmpfs -o "$opts" tmpfs "$t";;
    overlay) mkdir -p "$t"; mount -t overlay overlay -o "$opts" "$source"; mount --bind "$source$subpath" "$t";;
  esac
  case ",$opts," in *,ro,*) mount -o remount,bind,ro "$t";; esac
done <<TBUILD_MOUNTS_END
$TBUILD_MOUNTS
TBUILD_MOUNTS_END
exec "$@"
`;

/**
 * Runs each RUN command in a new user namespace mapping the caller's subordinate ids
 * (nothing when already root), private mount and pid namespaces, the snapshot mounted
 * and made the root with pivot_root, as the image's USER, with the capabilities
 * docker build's RUN has and only the image's environment.
 */
export class NamespaceExecutor implements Executor {
  readonly isolation = "namespace";

  run(req: ExecRequest): Promise<number> {
    return runInNamespaces(req);
  }
}

async function runInNamespaces(spec: ExecRequest): Promise<number> {
  const mount = spec.rootfs[0];
  if (mount === undefined) throw new TbuildError("internal", "RUN: the snapshot has no mounts");
  const init = nativeHelper("tbuild-run-init");
  const merged = path.join(spec.scratch, `run-${randomBytes(6).toString("hex")}`);
  const started = `${merged}.started`;
  await mkdir(merged, { recursive: true });
  // The environment goes as a counted list: never parsed as options (env(1) would take "-S...").
  const p = spec.process;
  const argv = [init, merged, p.cwd, String(p.uid), String(p.gid), p.network === "none" ? "none" : "host", String(p.env.length), ...p.env, "--", ...p.argv];
  try {
    const child = nsSpawn("/bin/sh", ["-c", RUN_SCRIPT, "tbuild-run", ...argv], {
      mount: true,
      pid: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        TBUILD_MERGED: merged,
        TBUILD_STARTED: started,
        TBUILD_MOUNT_TYPE: mount.type,
        TBUILD_MOUNT_SOURCE: mount.source,
        TBUILD_MOUNT_OPTIONS: mount.options.join(","),
        TBUILD_MOUNTS: mountLines(spec.mounts),
      },
    });
    let stderrTail = "";
    child.stdout?.on("data", (c: Buffer) => spec.onOutput("stdout", c));
    child.stderr?.on("data", (c: Buffer) => {
      stderrTail = (stderrTail + c.toString("utf8")).slice(-2000);
      spec.onOutput("stderr", c);
    });
    // The helper leads a process group of its own (and a session: the step gets no
    // controlling terminal); its exit ends the step, and the group dies with it.
    const { code, signal } = await waitExit(child, { doing: "RUN", drainMs: 2000, ...(spec.signal === undefined ? {} : { signal: spec.signal }) }).catch((e: unknown) => {
      throw isTbuildError(e) ? e : missingTool((e as NodeJS.ErrnoException).path ?? "unshare", "RUN: starting the namespace helper", e as Error);
    });
    if (code === 0) return 0;
    // The helper never got to its first line: the namespaces themselves could not be made.
    if (await access(started).then(() => true, () => false)) return code ?? 128 + (signal === null ? 0 : osConstants.signals[signal]);
    throw namespaceFailure(stderrTail, "RUN") ?? new TbuildError("unavailable", `RUN: the namespace helper failed: ${stderrTail.trim()}`);
  } finally {
    await rm(merged, { recursive: true, force: true });
    await rm(started, { force: true });
  }
}

/** The mounts as the helper script reads them: one tab-separated line each. */
function mountLines(mounts: PreparedMount[]): string {
  for (const m of mounts) {
    if (/[\t\n]/.test(m.target + m.source + m.subpath + m.options.join(","))) {
      throw new TbuildError("invalid-argument", `RUN --mount target ${JSON.stringify(m.target)}: tabs and newlines are not allowed in mount paths`);
    }
  }
  return mounts.map((m) => [m.kind, m.target, m.source, m.options.join(","), m.subpath].join("\t")).join("\n");
}
