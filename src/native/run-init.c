/*
 * tbuild-run-init: the last step before a RUN command starts.
 *
 * The RUN helper script has made the namespaces (user, mount, pid) and mounted the
 * step's root filesystem at ROOT. This program makes ROOT the root with pivot_root and
 * detaches the old root, so nothing of the host's filesystem stays reachable (a chroot
 * can be left again by a process that keeps CAP_SYS_CHROOT). It then keeps only the
 * capabilities docker build's RUN has (without mknod: there is no device cgroup here),
 * takes the image user's ids, enters WORKDIR from inside the new root (so /proc/self/fd
 * and /proc/self/cwd tricks see only the step's own files), and executes the command
 * with exactly the image's environment: passed as a counted list, never parsed.
 *
 * usage: tbuild-run-init ROOT WORKDIR UID GID NET(none|host) ENVCOUNT ENV... -- ARGV...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>
#include <linux/capability.h>

static void fail(const char *what, const char *arg) {
  fprintf(stderr, "tbuild: RUN: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  exit(126);
}

/* docker's default capabilities for a container, minus CAP_MKNOD. */
static const int keep[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID,
                           CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP};

static int kept(int cap) {
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
    if (keep[i] == cap) return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: tbuild-run-init ROOT WORKDIR UID GID NET ENVCOUNT ENV... -- ARGV...\n");
    return 125;
  }
  const char *root = argv[1], *workdir = argv[2], *net = argv[5];
  uid_t uid = (uid_t)strtoul(argv[3], NULL, 10);
  gid_t gid = (gid_t)strtoul(argv[4], NULL, 10);
  int envc = atoi(argv[6]);
  if (envc < 0 || 7 + envc >= argc || strcmp(argv[7 + envc], "--") != 0 || 8 + envc >= argc) {
    fprintf(stderr, "tbuild-run-init: malformed arguments\n");
    return 125;
  }
  char **env = calloc((size_t)envc + 1, sizeof(char *));
  if (env == NULL) fail("out of memory", NULL);
  for (int i = 0; i < envc; i++) env[i] = argv[7 + i];
  char **cmd = &argv[8 + envc];

  if (strcmp(net, "none") == 0 && unshare(CLONE_NEWNET) != 0) fail("cannot make a private network namespace", NULL);

  if (chdir(root) != 0) fail("cannot enter", root);
  /* pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it. */
  if (syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root", root);
  if (umount2(".", MNT_DETACH) != 0) fail("cannot detach the old root", NULL);
  if (chdir("/") != 0) fail("chdir", "/");

  for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
    if (!kept(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail("cannot drop a capability", NULL);
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);

  /* In a user namespace setgroups may be refused; the groups are then already empty. */
  if (setgroups(0, NULL) != 0 && errno != EPERM) fail("setgroups", NULL);
  if (setgid(gid) != 0) fail("cannot take the group id", argv[4]);
  if (setuid(uid) != 0) fail("cannot take the user id", argv[3]);

  if (chdir(workdir) != 0) fail("cannot enter the working directory", workdir);

  extern char **environ;
  environ = env;
  execvp(cmd[0], cmd);
  fprintf(stderr, "tbuild: RUN: cannot execute %s: %s\n", cmd[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
