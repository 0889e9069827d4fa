/**
 * Why namespaces could not be made here, from what actually failed: the message
 * `unshare` (util-linux) or `newuidmap` printed, and what this machine says about
 * itself (its seccomp mode, sysctls, /etc/subuid). Each answer carries the fix that
 * applies to that failure, never a general guess.
 */
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import type { ErrorCategory } from "../errors.js";

export interface Diagnosis {
  category: ErrorCategory;
  message: string;
  hint: string;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** The two ways out for a non-root job in a locked-down container. */
const AS_ROOT =
  "run the job as root inside its container (tbuild then runs RUN with chroot and the container is the boundary, as with Kaniko: Kubernetes securityContext.runAsUser: 0, docker run --user 0)";
const RELAXED =
  "relax the container so user namespaces work: seccomp unconfined and /proc unmasked (docker run --security-opt seccomp=unconfined --security-opt systempaths=unconfined; Kubernetes securityContext.seccompProfile.type: Unconfined and procMount: Unmasked)";
const WAYS_OUT = `either ${AS_ROOT}, or ${RELAXED}`;

/** Whether a seccomp filter is on this process (/proc/self/status "Seccomp: 2"). */
function seccompFiltered(): boolean {
  return /^Seccomp:\s*2$/m.test(read("/proc/self/status") ?? "");
}

function hasSubordinateRange(file: string): boolean {
  const { username, uid } = userInfo();
  return (read(file) ?? "").split("\n").some((l) => l.startsWith(`${username}:`) || l.startsWith(`${uid}:`));
}

/** What refused unshare(2) itself. */
function unshareRefused(root: boolean): Diagnosis {
  const fix = root ? "use --isolation=chroot (auto chooses it by itself where root cannot make namespaces)" : WAYS_OUT;
  if (seccompFiltered()) {
    return { category: "permission-denied", message: "this container's seccomp profile refuses unshare (EPERM), so no namespaces can be made", hint: fix };
  }
  if (read("/proc/sys/user/max_user_namespaces")?.trim() === "0") {
    return { category: "permission-denied", message: "user namespaces are switched off on this machine (sysctl user.max_user_namespaces = 0)", hint: root ? fix : `sysctl -w user.max_user_namespaces=15000, or ${WAYS_OUT}` };
  }
  if (read("/proc/sys/kernel/unprivileged_userns_clone")?.trim() === "0") {
    return { category: "permission-denied", message: "unprivileged user namespaces are switched off (sysctl kernel.unprivileged_userns_clone = 0)", hint: root ? fix : `sysctl -w kernel.unprivileged_userns_clone=1, or ${WAYS_OUT}` };
  }
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")?.trim() === "1") {
    return { category: "permission-denied", message: "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)", hint: "allow them for node with an AppArmor profile (userns,), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" };
  }
  return { category: "permission-denied", message: "unshare was refused (EPERM): this process may not create namespaces here", hint: fix };
}

/**
 * The diagnosis of a failed namespace helper from its stderr, or undefined when the
 * output does not come from making the namespaces (the command itself failed).
 */
export function diagnoseNamespaces(stderr: string, root: boolean): Diagnosis | undefined {
  if (/unshare failed: Operation not permitted/.test(stderr)) return unshareRefused(root);
  if (/new[ug]idmap|[ug]id_map|subuid|subgid/i.test(stderr)) {
    if (!hasSubordinateRange("/etc/subuid") || !hasSubordinateRange("/etc/subgid")) {
      return {
        category: "failed-precondition",
        message: "no subordinate id range for this user",
        hint: "add a range to /etc/subuid and /etc/subgid (e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER`) and install the uidmap package",
      };
    }
    if (/write to [ug]id_map failed: Operation not permitted/.test(stderr)) {
      return {
        category: "permission-denied",
        message: "newuidmap/newgidmap (setuid root) were refused writing the id map in this container, though this user's subordinate range exists",
        hint: `give them file capabilities instead of the setuid bit, in the image as root: \`setcap cap_setuid+ep /usr/bin/newuidmap && setcap cap_setgid+ep /usr/bin/newgidmap\`; or ${AS_ROOT}`,
      };
    }
    if (/No such file|not found|cannot execute/i.test(stderr)) {
      return { category: "unavailable", message: "newuidmap/newgidmap are missing", hint: "install the uidmap package" };
    }
  }
  if (/mount \/proc failed|cannot mount proc|mount.*proc.*Operation not permitted/i.test(stderr)) {
    return {
      category: "permission-denied",
      message: "a /proc for the RUN step cannot be mounted: this container masks parts of its /proc, and the kernel then refuses a new one",
      hint: root
        ? "use --isolation=chroot, or unmask /proc (docker run --security-opt systempaths=unconfined; Kubernetes securityContext.procMount: Unmasked)"
        : "unmask /proc (docker run --security-opt systempaths=unconfined; Kubernetes securityContext.procMount: Unmasked), or run the job as root inside its container (tbuild then uses chroot)",
    };
  }
  if (/^unshare: .*(Operation not permitted|Permission denied)/m.test(stderr)) return unshareRefused(root);
  return undefined;
}
