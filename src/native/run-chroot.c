/*
 * tbuild-run-chroot: runs one RUN command with chroot(2), for containers that allow no
 * namespaces and no mounts (a CI job's unprivileged container, root inside). There the
 * container itself is the isolation boundary, as with Kaniko; this helper only gives
 * the command the step's tree as its root, the image user's ids and docker's RUN
 * capabilities, and makes sure nothing it started outlives the step.
 *
 * tbuild has already populated ROOT/dev, /etc/resolv.conf, /etc/hosts and the step's
 * --mount sources in the tree (see src/executor/chroot.ts). This program stays outside
 * the chroot as a supervisor: it is a child subreaper, so every process the command
 * starts (daemons that double-fork and setsid included) ends up its descendant, and
 * when the command exits, or tbuild dies (parent-death signal), or tbuild asks
 * (SIGTERM), it kills them all before it exits itself. A /proc is mounted at ROOT/proc
 * when this process may mount (it usually may not; tbuild then says so once).
 *
 * usage: tbuild-run-chroot ROOT WORKDIR UID GID ENVCOUNT ENV... -- ARGV...
 *        tbuild-run-chroot --probe     prints "ok", or which of unshare/mount failed and why
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *what, const char *arg) {
  fprintf(stderr, "tbuild: RUN: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  _exit(126);
}

/* docker's default capabilities for a container, minus CAP_MKNOD (as tbuild-run-init). */
static const int keep[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID,
                           CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP};

static int kept(int cap) {
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
    if (keep[i] == cap) return 1;
  return 0;
}

/*
 * Whether RUN could have namespaces here: a child tries what tbuild-run-init's
 * path needs as root (a mount and a pid namespace, then a mount in it). Reports the
 * first refusal with its errno, so tbuild can say what failed.
 */
static int probe(void) {
  pid_t pid = fork();
  if (pid < 0) fail("fork", NULL);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) {
      printf("unshare %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "error");
      fflush(stdout);
      _exit(1);
    }
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || mount("tmpfs", "/", "tmpfs", 0, "size=4k") != 0) {
      printf("mount %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "error");
      fflush(stdout);
      _exit(1);
    }
    printf("ok\n");
    fflush(stdout);
    _exit(0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* The standard device nodes, in the fresh ROOT/dev tbuild made for this step (removed after it). */
static void make_dev(void) {
  static const struct { const char *name; unsigned major, minor; } nodes[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  int dev = open("dev", O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dev < 0) fail("cannot open the step's /dev", NULL);
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0 && errno != EEXIST) fail("cannot create the device node /dev/", nodes[i].name);
    if (fchmodat(dev, nodes[i].name, 0666, 0) != 0) fail("chmod /dev/", nodes[i].name);
  }
  close(dev);
}

static volatile sig_atomic_t stop;
static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

/* SIGKILLs every direct child (processes reparented to this subreaper included). */
static void kill_children(void) {
  DIR *d = opendir("/proc");
  if (d == NULL) return;
  pid_t self = getpid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses, so after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL) continue;
    char state;
    int ppid;
    if (sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == self) kill((pid_t)atoi(e->d_name), SIGKILL);
  }
  closedir(d);
}

/* Kills and reaps every descendant until none is left. */
static void end_all(void) {
  for (;;) {
    kill_children();
    pid_t r;
    while ((r = waitpid(-1, NULL, WNOHANG)) > 0) {
    }
    if (r < 0 && errno == ECHILD) return;
    usleep(5000);
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--probe") == 0) return probe();
  if (argc < 8) {
    fprintf(stderr, "usage: tbuild-run-chroot ROOT WORKDIR UID GID ENVCOUNT ENV... -- ARGV...\n");
    return 125;
  }
  const char *root = argv[1], *workdir = argv[2];
  uid_t uid = (uid_t)strtoul(argv[3], NULL, 10);
  gid_t gid = (gid_t)strtoul(argv[4], NULL, 10);
  int envc = atoi(argv[5]);
  if (envc < 0 || 6 + envc >= argc || strcmp(argv[6 + envc], "--") != 0 || 7 + envc >= argc) {
    fprintf(stderr, "tbuild-run-chroot: malformed arguments\n");
    return 125;
  }
  char **env = calloc((size_t)envc + 1, sizeof(char *));
  if (env == NULL) fail("out of memory", NULL);
  for (int i = 0; i < envc; i++) env[i] = argv[6 + i];
  char **cmd = &argv[7 + envc];

  pid_t parent = getppid();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop; /* no SA_RESTART: waitpid returns EINTR and the supervisor acts */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) stop = 1;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("cannot become the step's subreaper", NULL);

  if (chdir(root) != 0) fail("cannot enter", root);
  make_dev();
  /* /proc only when mounting is allowed, and only on a real directory of the tree (never through a symlink). */
  struct stat pst;
  int proc_mounted = lstat("proc", &pst) == 0 && S_ISDIR(pst.st_mode) && mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0;

  pid_t pid = stop ? -1 : fork();
  if (pid < 0 && !stop) fail("fork", NULL);
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, 0);
    syscall(SYS_close_range, 3U, ~0U, 0U); /* nothing of tbuild's reaches the step (ENOSYS on old kernels: fds are CLOEXEC there) */
    if (chroot(".") != 0) fail("chroot", root);
    if (chdir("/") != 0) fail("chdir", "/");
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
      if (!kept(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM) fail("cannot drop a capability", NULL);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (setgroups(0, NULL) != 0) fail("setgroups", NULL);
    if (setgid(gid) != 0) fail("cannot take the group id", argv[4]);
    if (setuid(uid) != 0) fail("cannot take the user id", argv[3]);
    if (chdir(workdir) != 0) fail("cannot enter the working directory", workdir);
    extern char **environ;
    environ = env;
    execvp(cmd[0], cmd);
    fprintf(stderr, "tbuild: RUN: cannot execute %s: %s\n", cmd[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }

  int status = 0, code = 137;
  while (pid > 0) {
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (r < 0 && errno != EINTR) break;
    if (stop) kill(pid, SIGKILL);
  }
  end_all();
  if (proc_mounted) umount2("proc", MNT_DETACH);
  return code;
}
