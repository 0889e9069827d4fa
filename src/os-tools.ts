/**
 * The OS programs tbuild may start, and the Debian package each comes from, so that a
 * missing one is reported as the install command a user can type.
 */
import { TbuildError } from "./errors.js";

const DEBIAN_PACKAGE: Record<string, string> = {
  unshare: "util-linux",
  mount: "mount",
  umount: "mount",
  newuidmap: "uidmap",
  newgidmap: "uidmap",
  zstd: "zstd",
  xz: "xz-utils",
  bzip2: "bzip2",
  sh: "dash",
  find: "findutils",
  cp: "coreutils",
  rm: "coreutils",
  chown: "coreutils",
  mkdir: "coreutils",
  mknod: "coreutils",
};

/** `apt-get install PKG` for program `cmd` (a path is reduced to its name). */
export function installHint(cmd: string): string {
  const name = cmd.slice(cmd.lastIndexOf("/") + 1);
  const pkg = DEBIAN_PACKAGE[name];
  return pkg === undefined ? `install the program '${name}'` : `install it: apt-get install ${pkg} (Debian/Ubuntu)`;
}

/** The error for a program that could not be started (spawn's ENOENT and friends). */
export function missingTool(cmd: string, doing: string, cause: Error): TbuildError {
  const name = cmd.slice(cmd.lastIndexOf("/") + 1);
  const why = (cause as NodeJS.ErrnoException).code === "ENOENT" ? "it is not installed" : cause.message;
  return new TbuildError("unavailable", `${doing}: cannot run ${name}: ${why}`, { cause, hint: installHint(cmd) });
}
